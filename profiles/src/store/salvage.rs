//! What [`super::ProfileStore::repair`] can keep from a broken profile: the identity and
//! history that cost the user typing or a DNS lookup (host, port, username, domain,
//! addresses, created). The winning configuration and pin are not trusted from a damaged
//! file; the next run finds them again.

use toml::{Table, Value};

use super::file_name::file_stem;
use crate::model::Profile;

/// A fresh profile for `host:port` carrying whatever could be read from `bytes`, and the
/// names of the fields that came from the old file.
pub(crate) fn salvage(
    bytes: Option<&[u8]>,
    host: &str,
    port: u16,
    now: &str,
) -> (Profile, Vec<&'static str>) {
    let table = bytes
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(read_table)
        .unwrap_or_default();
    let mut profile = Profile::new(host, port, now);
    let mut salvaged = Vec::new();

    if let Some(old_host) = string(&table, "host") {
        // Keep the user's spelling, but only if it is the same profile.
        if file_stem(old_host, port).ok() == file_stem(host, port).ok() {
            profile.host = old_host.to_owned();
            salvaged.push("host");
        }
    }
    if table.get("port").and_then(Value::as_integer) == Some(i64::from(port)) {
        salvaged.push("port");
    }
    if let Some(username) = string(&table, "username") {
        profile.username = Some(username.to_owned());
        salvaged.push("username");
    }
    if let Some(domain) = string(&table, "domain") {
        profile.domain = Some(domain.to_owned());
        salvaged.push("domain");
    }
    if let Some(addresses) = table.get("addresses").and_then(Value::as_array) {
        // Oldest last, so remembering in reverse keeps the order.
        for address in addresses.iter().rev().filter_map(Value::as_str) {
            profile.remember_address(address);
        }
        if !profile.addresses.is_empty() {
            salvaged.push("addresses");
        }
    }
    if let Some(created) = string(&table, "created") {
        profile.created = created.to_owned();
        salvaged.push("created");
    }
    (profile, salvaged)
}

fn string<'a>(table: &'a Table, key: &str) -> Option<&'a str> {
    table
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The whole document if it is valid TOML; otherwise each top-level line on its own, so a
/// break further down does not lose the lines above it.
fn read_table(text: &str) -> Table {
    if let Ok(table) = text.parse::<Table>() {
        return table;
    }
    let mut table = Table::new();
    for line in text.lines() {
        if line.trim_start().starts_with('[') {
            break;
        }
        if let Ok(one) = line.parse::<Table>() {
            for (key, value) in one {
                table.entry(key).or_insert(value);
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvages_top_level_lines_above_the_damage() {
        let text = "schema = 1\nhost = \"Server\"\nport = 3390\nusername = \"bob\"\n\
                    addresses = [\"10.0.0.1:3390\", \"10.0.0.2:3390\"]\nwinning = {{{\n";
        let (p, fields) = salvage(Some(text.as_bytes()), "server", 3390, "now");
        assert_eq!(p.host, "Server");
        assert_eq!(p.username.as_deref(), Some("bob"));
        assert_eq!(p.addresses, ["10.0.0.1:3390", "10.0.0.2:3390"]);
        assert_eq!(fields, ["host", "port", "username", "addresses"]);
    }

    #[test]
    fn another_hosts_name_is_not_taken() {
        let (p, fields) = salvage(Some(b"host = \"other\"\n"), "server", 3389, "now");
        assert_eq!(p.host, "server");
        assert!(fields.is_empty());
    }

    #[test]
    fn binary_gives_a_fresh_profile() {
        let (p, fields) = salvage(Some(&[0xFF, 0x00, 0x13]), "server", 3389, "now");
        assert_eq!(p, Profile::new("server", 3389, "now"));
        assert!(fields.is_empty());
    }
}
