//! A profile as JSON, for scripts and `--json` output. Same field names as the TOML file.

use crate::model::Profile;

/// Pretty-printed JSON of `profile`.
pub fn profile_to_json(profile: &Profile) -> String {
    // Serializing these plain structs (string keys, no non-finite floats) cannot fail.
    serde_json::to_string_pretty(profile).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// A profile from JSON (the inverse, for tools that edit JSON).
pub fn profile_from_json(json: &str) -> Result<Profile, serde_json::Error> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let mut p = Profile::new("server", 3390, "2026-11-21T12:00:00Z");
        p.username = Some("alice".into());
        p.rdp_extra.insert("smart sizing".into(), "i:1".into());
        let json = profile_to_json(&p);
        assert!(json.contains("\"host\": \"server\""), "{json}");
        assert!(!json.contains("password"));
        assert_eq!(profile_from_json(&json).unwrap(), p);
    }
}
