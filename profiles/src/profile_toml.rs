//! Profile <-> TOML text, with errors that name a line and column so a person can fix a
//! hand edit. Pure: no file system here (the store adds the path).

use std::fmt;

use crate::model::{Profile, SCHEMA};

/// Why bytes are not a profile this build can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileParseError {
    /// Not UTF-8, not TOML, or TOML whose keys/types do not fit the profile.
    /// `line` and `column` are 1-based (column counts characters).
    Invalid {
        line: usize,
        column: usize,
        message: String,
    },
    /// Written by a newer rdpshim whose format this build cannot know.
    NewerSchema { found: u32 },
}

impl fmt::Display for ProfileParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
            Self::NewerSchema { found } => write!(
                f,
                "written by a newer rdpshim (schema {found}; this one reads up to {SCHEMA})"
            ),
        }
    }
}

impl std::error::Error for ProfileParseError {}

/// Parses a profile file's bytes.
pub fn parse_profile(bytes: &[u8]) -> Result<Profile, ProfileParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let (line, column) = line_column(&String::from_utf8_lossy(&bytes[..at]), at);
        ProfileParseError::Invalid {
            line,
            column,
            message: format!(
                "not UTF-8 text (byte 0x{:02X} at offset {at}); is this binary data?",
                bytes[at]
            ),
        }
    })?;
    match toml::from_str::<Profile>(text) {
        Ok(profile) => {
            if profile.schema > SCHEMA {
                return Err(ProfileParseError::NewerSchema {
                    found: profile.schema,
                });
            }
            if profile.schema == 0 {
                return Err(invalid_at(text, "schema", "schema must be 1 or more"));
            }
            Ok(profile)
        }
        Err(error) => {
            // A newer format may change types or required keys; say "newer" rather than
            // report a type error the user cannot fix.
            if let Some(found) = newer_schema_in(text) {
                return Err(ProfileParseError::NewerSchema { found });
            }
            let (line, column) = match error.span() {
                Some(span) => line_column(text, span.start.min(text.len())),
                None => (1, 1),
            };
            Err(ProfileParseError::Invalid {
                line,
                column,
                message: error.message().trim().to_owned(),
            })
        }
    }
}

/// The TOML text of a profile, as the store writes it.
pub fn profile_to_toml(profile: &Profile) -> Result<String, toml::ser::Error> {
    toml::to_string(profile)
}

fn newer_schema_in(text: &str) -> Option<u32> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let schema = table.get("schema")?.as_integer()?;
    let schema = u32::try_from(schema).ok()?;
    (schema > SCHEMA).then_some(schema)
}

fn invalid_at(text: &str, key: &str, message: &str) -> ProfileParseError {
    let offset = text
        .lines()
        .scan(0usize, |start, line| {
            let here = *start;
            *start += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, line)| line.trim_start().starts_with(key))
        .map_or(0, |(start, _)| start);
    let (line, column) = line_column(text, offset);
    ProfileParseError::Invalid {
        line,
        column,
        message: message.to_owned(),
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dial, OutcomeRecord, PinnedCertificate, Winning};

    pub(crate) fn full_profile() -> Profile {
        let mut p = Profile::new("Server.Example", 3390, "2026-11-21T12:00:00Z");
        p.username = Some("alice".into());
        p.domain = Some("CORP".into());
        p.record_success(
            Winning {
                dial: Dial::Name,
                address: Some("192.0.2.7:3390".into()),
                server_name: "server.example".into(),
                ip_as_server_name: false,
                nla: true,
                tls_stack: "openssl".into(),
                tls_version: Some("1.0".into()),
                ciphers: Some("ECDHE-RSA-AES128-SHA".into()),
                negotiated_tls_version: Some("1.0".into()),
                negotiated_cipher: Some("ECDHE-RSA-AES128-SHA".into()),
                udp: false,
                grade: "legacy".into(),
                fallbacks: vec!["tls-stack-openssl".into(), "tls-version-downgrade".into()],
                gateway: None,
            },
            "2026-11-21T12:00:05Z",
        );
        p.certificate = Some(PinnedCertificate {
            sha256: "AB:CD".into(),
            subject: "CN=server.example".into(),
            issuer: "CN=server.example".into(),
            not_before: "2020-01-01T00:00:00Z".into(),
            not_after: "2021-01-01T00:00:00Z".into(),
        });
        p.record_outcome(OutcomeRecord {
            at: "2026-11-21T12:00:05Z".into(),
            outcome: "ok".into(),
            stage: "first-frame".into(),
            attempts: 4,
            fallbacks: vec!["tls-version-downgrade".into()],
        });
        p.rdp_extra.insert("screen mode id".into(), "i:1".into());
        p.rdp_extra
            .insert("shell working directory".into(), "s:C:\\x".into());
        p
    }

    #[test]
    fn toml_round_trip_keeps_everything() {
        let p = full_profile();
        let text = profile_to_toml(&p).unwrap();
        let back = parse_profile(text.as_bytes()).unwrap();
        assert_eq!(back, p, "{text}");
    }

    #[test]
    fn minimal_hand_written_profile_loads_with_defaults() {
        let p = parse_profile(b"host = \"server\"\n").unwrap();
        assert_eq!(p.schema, 1);
        assert_eq!(p.port, 3389);
        assert!(p.addresses.is_empty() && p.winning.is_none());
    }

    /// Schema 2 (the gateway) reads schema 1 files as they are, and a schema 2 file holds
    /// the gateway and the winning gateway leg through a TOML round trip.
    #[test]
    fn schema_1_files_load_and_the_gateway_round_trips() {
        let old = parse_profile(b"schema = 1\nhost = \"s\"\n[winning]\ndial = \"name\"\nserver_name = \"s\"\nnla = true\ntls_stack = \"rustls\"\ngrade = \"modern\"\n").unwrap();
        assert!(old.gateway.is_none() && old.winning.as_ref().unwrap().gateway.is_none());
        assert_eq!(old.required_schema(), 1);

        let mut p = full_profile();
        let mut gateway = crate::model::Gateway::new("gw.example", 8443);
        gateway.usage = crate::model::GatewayUsage::Detect;
        gateway.username = Some("gwuser".into());
        p.gateway = Some(gateway);
        p.winning.as_mut().unwrap().gateway = Some(crate::model::WinningGateway {
            tls_stack: "openssl".into(),
            tls_version: Some("1.0".into()),
            ciphers: None,
            transport: "legacy-http".into(),
            auth: "ntlm".into(),
            transport_used: Some("legacy-http".into()),
            negotiated_tls_version: Some("1.0".into()),
            negotiated_cipher: None,
        });
        p.schema = p.required_schema();
        let text = profile_to_toml(&p).unwrap();
        assert!(
            text.contains("[gateway]") && text.contains("usage = \"detect\""),
            "{text}"
        );
        assert!(!text.to_ascii_lowercase().contains("password"), "{text}");
        assert_eq!(parse_profile(text.as_bytes()).unwrap(), p);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let p = parse_profile(b"host = \"s\"\nfuture_key = 3\n[winning2]\nx = 1\n").unwrap();
        assert_eq!(p.host, "s");
    }

    #[test]
    fn newer_schema_is_refused_even_when_types_changed() {
        assert_eq!(
            parse_profile(b"schema = 3\nhost = \"s\"\n"),
            Err(ProfileParseError::NewerSchema { found: 3 })
        );
        assert_eq!(
            parse_profile(b"schema = 7\nhost = 12\n"),
            Err(ProfileParseError::NewerSchema { found: 7 })
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_profile(b"host = \"s\"\nport = 3389\naddresses = [\"a\",\n").unwrap_err();
        let ProfileParseError::Invalid { line, .. } = err else {
            panic!("{err:?}")
        };
        assert!(line >= 3, "{err}");
        let err = parse_profile(b"host = \"s\"\nport = \"x\"\n").unwrap_err();
        assert!(
            matches!(err, ProfileParseError::Invalid { line: 2, .. }),
            "{err}"
        );
        let err = parse_profile(b"host = \"s\"\nport = 70000\n").unwrap_err();
        assert!(
            matches!(err, ProfileParseError::Invalid { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn binary_garbage_is_an_error_not_a_panic() {
        let err = parse_profile(&[0x00, 0xFF, 0xFE, 0x80, 0x01]).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        let err = parse_profile(b"host = \"s\"\n\x00\x01\x02").unwrap_err();
        assert!(
            matches!(err, ProfileParseError::Invalid { line: 2, .. }),
            "{err}"
        );
    }
}
