//! An imported `.rdp` file into the profile store: merged into the host's profile when
//! there is one (the file's settings win; history, pins and the addresses already known
//! stay), a new profile otherwise.

use rdpshim_profiles::{Profile, ProfileStore, StoreError};

/// Saves `imported` (as `rdpfile::import_bytes` made it); the profile as saved.
pub fn save(store: &ProfileStore, imported: &Profile) -> Result<Profile, StoreError> {
    store.update(&imported.host, imported.port, |old| match old {
        None => imported.clone(),
        Some(old) => merge(old, imported),
    })
}

/// `old` with what the file says: user, domain, addresses first, configuration, and the
/// `.rdp` properties rdpshim does not use.
pub fn merge(mut old: Profile, imported: &Profile) -> Profile {
    old.username = imported.username.clone().or(old.username);
    old.domain = imported.domain.clone().or(old.domain);
    for address in imported.addresses.iter().rev() {
        old.remember_address(address);
    }
    if imported.winning.is_some() {
        old.winning = imported.winning.clone();
    }
    old.rdp_extra.extend(imported.rdp_extra.clone());
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_and_the_history_stays() {
        let now = "2026-01-01T00:00:00Z";
        let mut old = Profile::new("srv", 3389, now);
        old.username = Some("old-user".into());
        old.domain = Some("OLD".into());
        old.remember_address("10.0.0.1:3389");
        old.rdp_extra.insert("keep".into(), "i:1".into());
        let before = old.clone();

        let mut imported = Profile::new("srv", 3389, now);
        imported.username = Some("alice".into());
        imported.remember_address("10.0.0.2:3389");
        imported
            .rdp_extra
            .insert("enablecredsspsupport".into(), "i:0".into());

        let merged = merge(old, &imported);
        assert_eq!(merged.username.as_deref(), Some("alice"));
        assert_eq!(
            merged.domain.as_deref(),
            Some("OLD"),
            "the file names no domain"
        );
        assert_eq!(merged.addresses, ["10.0.0.2:3389", "10.0.0.1:3389"]);
        assert_eq!(
            merged.rdp_extra.get("keep").map(String::as_str),
            Some("i:1")
        );
        assert_eq!(
            merged
                .rdp_extra
                .get("enablecredsspsupport")
                .map(String::as_str),
            Some("i:0")
        );
        assert_eq!(merged.outcomes, before.outcomes);
        assert_eq!(merged.created, before.created);
        assert_eq!(
            merged.winning, before.winning,
            "the file has no configuration"
        );
    }
}
