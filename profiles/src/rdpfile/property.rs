//! One `name:type:value` line of an `.rdp` file, valid by construction: a [`Property`]
//! cannot hold a line break (which would inject another property), a control character,
//! a non-integer `i:` value, or a password. So nothing built from one can write a password.

use std::fmt;

/// The type letter of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `s:` text.
    Str,
    /// `i:` integer.
    Int,
    /// `b:` hex-encoded binary (mstsc uses it for `password 51`, which is never kept).
    Bin,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Self::Str => 's',
            Self::Int => 'i',
            Self::Bin => 'b',
        }
    }

    pub fn from_letter(letter: &str) -> Option<Self> {
        match letter {
            "s" | "S" => Some(Self::Str),
            "i" | "I" => Some(Self::Int),
            "b" | "B" => Some(Self::Bin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Property {
    name: String,
    kind: Kind,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyError {
    EmptyName,
    ColonInName,
    ControlCharacter,
    NotAnInteger(String),
    NotHex,
    /// `"type:value"` text without a known type letter.
    NoType(String),
    /// Passwords are kept in the OS keyring, never in a file.
    Password(String),
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => f.write_str("empty property name"),
            Self::ColonInName => f.write_str("a property name cannot contain `:`"),
            Self::ControlCharacter => f.write_str("line breaks and control characters are not allowed"),
            Self::NotAnInteger(v) => write!(f, "`{v}` is not an integer (type i)"),
            Self::NotHex => f.write_str("a b: value must be hexadecimal"),
            Self::NoType(v) => write!(
                f,
                "`{v}` lacks a type prefix: write s:TEXT, i:NUMBER or b:HEX"
            ),
            Self::Password(name) => write!(
                f,
                "`{name}` is a password property: passwords are kept in the OS keyring, never in files"
            ),
        }
    }
}

impl std::error::Error for PropertyError {}

/// Whether `name` is a property that carries a password (`password 51`, `clear password`,
/// `gatewaypassword`, ...). Deliberately broad: a false positive drops a harmless setting;
/// a false negative would write a secret to disk.
pub fn is_password_property(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("password") || lower.contains("passwd")
}

impl Property {
    /// Validates and builds a property; the name is trimmed of white space and of U+FEFF
    /// (a byte-order mark that ended up inside the text: at the start of a file it would
    /// be taken for a BOM and dropped on the next read, changing the name).
    pub fn new(
        name: impl Into<String>,
        kind: Kind,
        value: impl Into<String>,
    ) -> Result<Self, PropertyError> {
        let name = name
            .into()
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .to_owned();
        let value = value.into();
        if name.is_empty() {
            return Err(PropertyError::EmptyName);
        }
        if name.contains(':') {
            return Err(PropertyError::ColonInName);
        }
        let control = |s: &str| s.chars().any(|c| c.is_control() && c != '\t');
        if control(&name) || control(&value) {
            return Err(PropertyError::ControlCharacter);
        }
        if is_password_property(&name) {
            return Err(PropertyError::Password(name));
        }
        match kind {
            Kind::Int if value.trim().parse::<i64>().is_err() => {
                return Err(PropertyError::NotAnInteger(value));
            }
            Kind::Bin if !value.trim().bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Err(PropertyError::NotHex);
            }
            _ => {}
        }
        Ok(Self { name, kind, value })
    }

    pub fn string(
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, PropertyError> {
        Self::new(name, Kind::Str, value)
    }

    pub fn int(name: impl Into<String>, value: i64) -> Result<Self, PropertyError> {
        Self::new(name, Kind::Int, value.to_string())
    }

    /// From the `"type:value"` form kept in `Profile::rdp_extra`.
    pub fn from_typed(name: impl Into<String>, typed: &str) -> Result<Self, PropertyError> {
        let (letter, value) = typed
            .split_once(':')
            .ok_or_else(|| PropertyError::NoType(typed.to_owned()))?;
        let kind =
            Kind::from_letter(letter).ok_or_else(|| PropertyError::NoType(typed.to_owned()))?;
        Self::new(name, kind, value)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The raw value text, as in the file.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value of an `i:` property.
    pub fn int_value(&self) -> Option<i64> {
        match self.kind {
            Kind::Int => self.value.trim().parse().ok(),
            _ => None,
        }
    }

    /// `"type:value"`, the form kept in `Profile::rdp_extra`.
    pub fn typed_value(&self) -> String {
        format!("{}:{}", self.kind.letter(), self.value)
    }

    /// Whether this is the property called `name` (ASCII case-insensitive, as mstsc reads them).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for Property {
    /// The file line, without line ending.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.name, self.kind.letter(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_properties() {
        let p = Property::string("full address", "host:3390").unwrap();
        assert_eq!(p.to_string(), "full address:s:host:3390");
        assert_eq!(Property::int("x", -3).unwrap().int_value(), Some(-3));
        assert_eq!(
            Property::from_typed("screen mode id", "i:2")
                .unwrap()
                .to_string(),
            "screen mode id:i:2"
        );
        assert_eq!(Property::from_typed("a", "s:").unwrap().value(), "");
        assert_eq!(Property::string("\u{feff} a ", "x").unwrap().name(), "a");
    }

    #[test]
    fn invalid_properties_cannot_be_built() {
        assert_eq!(Property::string(" ", "x"), Err(PropertyError::EmptyName));
        assert_eq!(
            Property::string("a:b", "x"),
            Err(PropertyError::ColonInName)
        );
        assert_eq!(
            Property::string("a", "x\npassword 51:b:00"),
            Err(PropertyError::ControlCharacter)
        );
        assert!(matches!(
            Property::new("a", Kind::Int, "x"),
            Err(PropertyError::NotAnInteger(_))
        ));
        assert_eq!(
            Property::new("a", Kind::Bin, "0g"),
            Err(PropertyError::NotHex)
        );
        assert!(matches!(
            Property::from_typed("a", "2"),
            Err(PropertyError::NoType(_))
        ));
        for name in [
            "password 51",
            "Password",
            "clear password",
            "GatewayPassword",
        ] {
            assert!(
                matches!(Property::string(name, "x"), Err(PropertyError::Password(_))),
                "{name}"
            );
        }
    }
}
