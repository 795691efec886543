//! A server as the user names it: `HOST`, `HOST:PORT`, `[IPV6]:PORT` or an IP literal, the
//! port 3389 unless given. One parser for every subcommand (it is their clap value parser)
//! and for `--hosts-file` lines.

use std::fmt;
use std::str::FromStr;

/// TCP port RDP listens on unless told otherwise.
pub const DEFAULT_RDP_PORT: u16 = 3389;

/// `HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// A name or an IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// Why a `HOST[:PORT]` does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPortError {
    #[error("empty host")]
    Empty,
    #[error("`{input}`: missing `]` after IPv6 address")]
    UnclosedBracket { input: String },
    #[error("`{input}`: expected `:PORT` after `]`")]
    AfterBracket { input: String },
    #[error("`{input}`: missing host before `:`")]
    NoHost { input: String },
    #[error("`{input}`: `{port}` is not a TCP port (1-65535)")]
    BadPort { input: String, port: String },
}

impl HostPort {
    /// Splits `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 literal.
    pub fn parse(input: &str) -> Result<Self, HostPortError> {
        Self::parse_with_port(input, DEFAULT_RDP_PORT)
    }

    /// [`HostPort::parse`] with another default port (an RD Gateway's is 443).
    pub fn parse_with_port(input: &str, default_port: u16) -> Result<Self, HostPortError> {
        let input = input.trim();
        let at = |host: &str, port| {
            Ok(Self {
                host: host.to_owned(),
                port,
            })
        };
        if input.is_empty() {
            return Err(HostPortError::Empty);
        }
        if let Some(rest) = input.strip_prefix('[') {
            let (host, after) =
                rest.split_once(']')
                    .ok_or_else(|| HostPortError::UnclosedBracket {
                        input: input.to_owned(),
                    })?;
            return match after.strip_prefix(':') {
                Some(port) => at(host, parse_port(input, port)?),
                None if after.is_empty() => at(host, default_port),
                None => Err(HostPortError::AfterBracket {
                    input: input.to_owned(),
                }),
            };
        }
        if input.parse::<std::net::Ipv6Addr>().is_ok() {
            return at(input, default_port);
        }
        match input.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => at(host, parse_port(input, port)?),
            Some(_) => Err(HostPortError::NoHost {
                input: input.to_owned(),
            }),
            None => at(input, default_port),
        }
    }

    /// `host:port`, `[v6]:port`: how a host is named in tables, baselines and JUnit.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

impl FromStr for HostPort {
    type Err = HostPortError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(input: &str, port: &str) -> Result<u16, HostPortError> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostPortError::BadPort {
            input: input.to_owned(),
            port: port.to_owned(),
        }),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let cases = [
            ("server", "server", 3389, "server:3389"),
            ("server:3390", "server", 3390, "server:3390"),
            ("10.0.0.5:1", "10.0.0.5", 1, "10.0.0.5:1"),
            ("[::1]:3390", "::1", 3390, "[::1]:3390"),
            ("[::1]", "::1", 3389, "[::1]:3389"),
            ("::1", "::1", 3389, "[::1]:3389"),
            (" fe80::1 ", "fe80::1", 3389, "[fe80::1]:3389"),
        ];
        for (input, host, port, label) in cases {
            let parsed: HostPort = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((parsed.host.as_str(), parsed.port), (host, port), "{input}");
            assert_eq!(parsed.label(), label);
        }
        let bad = [
            ("", HostPortError::Empty),
            (
                "server:0",
                HostPortError::BadPort {
                    input: "server:0".into(),
                    port: "0".into(),
                },
            ),
            (
                "server:99999",
                HostPortError::BadPort {
                    input: "server:99999".into(),
                    port: "99999".into(),
                },
            ),
            (
                "server:x",
                HostPortError::BadPort {
                    input: "server:x".into(),
                    port: "x".into(),
                },
            ),
            (
                ":3389",
                HostPortError::NoHost {
                    input: ":3389".into(),
                },
            ),
            (
                "[::1",
                HostPortError::UnclosedBracket {
                    input: "[::1".into(),
                },
            ),
            (
                "[::1]x",
                HostPortError::AfterBracket {
                    input: "[::1]x".into(),
                },
            ),
        ];
        for (input, error) in bad {
            assert_eq!(HostPort::parse(input), Err(error), "{input}");
        }
    }
}
