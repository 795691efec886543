//! An `.rdp` file as an ordered list of properties: parsing keeps the order and every
//! property, known or not, and reports bad lines without stopping, because mstsc itself
//! skips lines it does not understand and a user's file should import as far as it can.

use std::fmt;

use thiserror::Error;

use super::decode::LineEnding;
use super::property::{is_password_property, Kind, Property, PropertyError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdpFile {
    properties: Vec<Property>,
}

/// A line that was not taken, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    pub line: usize,
    pub reason: LineProblem,
}

/// Why a line was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineProblem {
    #[error("not `name:type:value` (no `:`)")]
    NoColon,
    #[error("not `name:type:value` (no type after `{name}`)")]
    NoType { name: String },
    #[error("unknown type `{letter}` for `{name}` (expected s, i or b)")]
    UnknownType { name: String, letter: String },
    /// mstsc's `password 51:b:` and friends: dropped on import, never stored.
    #[error("`{name}` dropped: passwords are kept in the OS keyring, never in files")]
    Password { name: String },
    #[error("empty property name")]
    EmptyName,
    #[error("`{name}`: {source}")]
    Invalid { name: String, source: PropertyError },
}

impl fmt::Display for LineIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A parse result: what was read and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub file: RdpFile,
    pub issues: Vec<LineIssue>,
}

impl RdpFile {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses decoded text (LF or CRLF). Blank lines are skipped silently; lines that are
    /// not `name:type:value` and password properties are skipped and reported.
    pub fn parse(text: &str) -> Parsed {
        let mut parsed = Parsed::default();
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let line = if index == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(property) => parsed.file.properties.push(property),
                Err(reason) => parsed.issues.push(LineIssue {
                    line: index + 1,
                    reason,
                }),
            }
        }
        parsed
    }

    pub fn properties(&self) -> &[Property] {
        &self.properties
    }

    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The property called `name` (case-insensitive); the last one if repeated, as a later
    /// line overrides an earlier one.
    pub fn get(&self, name: &str) -> Option<&Property> {
        self.properties.iter().rev().find(|p| p.is(name))
    }

    /// The value of a property called `name`, whatever its type.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).map(Property::value)
    }

    pub fn get_int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Property::int_value)
    }

    /// Appends, or replaces in place the first property of the same name (removing later
    /// repeats), so a file keeps its order when a value changes.
    pub fn set(&mut self, property: Property) {
        match self.properties.iter().position(|p| p.is(property.name())) {
            Some(first) => {
                let name = property.name().to_owned();
                self.properties[first] = property;
                let mut index = 0;
                self.properties.retain(|p| {
                    let keep = index <= first || !p.is(&name);
                    index += 1;
                    keep
                });
            }
            None => self.properties.push(property),
        }
    }

    /// Removes every property called `name`; how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.properties.len();
        self.properties.retain(|p| !p.is(name));
        before - self.properties.len()
    }

    /// The file text, one property per line, each ending in `line_ending`.
    pub fn to_text(&self, line_ending: LineEnding) -> String {
        let mut text = String::new();
        for property in &self.properties {
            text.push_str(&property.to_string());
            text.push_str(line_ending.as_str());
        }
        text
    }
}

fn parse_line(line: &str) -> Result<Property, LineProblem> {
    let Some((name, rest)) = line.split_once(':') else {
        return Err(LineProblem::NoColon);
    };
    let name_owned = || name.trim().to_owned();
    let Some((letter, value)) = rest.split_once(':') else {
        return Err(LineProblem::NoType { name: name_owned() });
    };
    let Some(kind) = Kind::from_letter(letter.trim()) else {
        return Err(LineProblem::UnknownType {
            name: name_owned(),
            letter: letter.trim().to_owned(),
        });
    };
    if is_password_property(name) {
        return Err(LineProblem::Password { name: name_owned() });
    }
    Property::new(name, kind, value).map_err(|e| match e {
        PropertyError::EmptyName => LineProblem::EmptyName,
        source => LineProblem::Invalid {
            name: name_owned(),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_order_with_colons_in_values_and_spaces_in_names() {
        let parsed = RdpFile::parse(
            "screen mode id:i:2\r\nfull address:s:[fe80::1]:3390\r\n\r\n\
             shell working directory:s:C:\\Users\r\nsmart sizing:i:1\r\n",
        );
        assert!(parsed.issues.is_empty(), "{:?}", parsed.issues);
        let names: Vec<_> = parsed
            .file
            .properties()
            .iter()
            .map(Property::name)
            .collect();
        assert_eq!(
            names,
            [
                "screen mode id",
                "full address",
                "shell working directory",
                "smart sizing"
            ]
        );
        assert_eq!(parsed.file.get_str("Full Address"), Some("[fe80::1]:3390"));
        assert_eq!(
            parsed.file.get_str("shell working directory"),
            Some("C:\\Users")
        );
    }

    #[test]
    fn bad_lines_are_reported_with_numbers_and_parsing_goes_on() {
        let parsed = RdpFile::parse(
            "a:i:1\nno colon here\nb:x:1\nc:i:notanumber\n:s:x\npassword 51:b:01000000D08C9DDF\nd:s\ne:s:ok\n",
        );
        let lines: Vec<usize> = parsed.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7], "{:?}", parsed.issues);
        assert!(matches!(
            parsed.issues[4].reason,
            LineProblem::Password { .. }
        ));
        assert!(parsed.issues[4].to_string().contains("keyring"));
        assert_eq!(parsed.file.properties().len(), 2);
        assert_eq!(parsed.file.get_str("e"), Some("ok"));
        assert_eq!(parsed.file.get("password 51"), None);
    }

    #[test]
    fn repeated_names_last_wins_and_set_replaces_in_place() {
        let mut file = RdpFile::parse("a:i:1\nb:i:2\nA:i:3\n").file;
        assert_eq!(file.get_int("a"), Some(3));
        file.set(Property::int("a", 9).unwrap());
        assert_eq!(file.to_text(LineEnding::Lf), "a:i:9\nb:i:2\n");
        file.set(Property::int("c", 1).unwrap());
        assert_eq!(file.remove("B"), 1);
        assert_eq!(file.to_text(LineEnding::CrLf), "a:i:9\r\nc:i:1\r\n");
    }

    #[test]
    fn text_round_trips() {
        let text = "x y:s:a:b:c\nz:i:-4\nblob:b:0AFF\nempty:s:\n";
        let parsed = RdpFile::parse(text);
        assert!(parsed.issues.is_empty());
        assert_eq!(parsed.file.to_text(LineEnding::Lf), text);
    }
}
