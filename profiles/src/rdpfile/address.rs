//! `full address` values: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 literal,
//! as mstsc accepts them.

use thiserror::Error;

use crate::model::DEFAULT_PORT;

/// Why a `full address` value names no server; each case quotes the address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error("empty address")]
    Empty,
    #[error("`{address}`: `[` without `]`")]
    UnclosedBracket { address: String },
    #[error("`{address}`: empty host")]
    EmptyHost { address: String },
    #[error("`{address}`: unexpected `{after}` after `]`")]
    AfterBracket { address: String, after: String },
    #[error("`{address}`: `{port}` is not a port (1-65535)")]
    BadPort { address: String, port: String },
    /// Brackets inside, or white space: it could not be written back unambiguously.
    #[error("`{address}`: `{host}` is not a host name or address")]
    BadHost { address: String, host: String },
}

/// Splits an address into host and optional port. A host with brackets inside or white
/// space is refused: it could not be written back unambiguously.
pub fn split_host_port(address: &str) -> Result<(String, Option<u16>), AddressError> {
    let address = address.trim();
    if address.is_empty() {
        return Err(AddressError::Empty);
    }
    let (host, port) = split(address)?;
    if host.contains(['[', ']']) || host.chars().any(char::is_whitespace) {
        return Err(AddressError::BadHost {
            address: address.to_owned(),
            host,
        });
    }
    Ok((host, port))
}

fn split(address: &str) -> Result<(String, Option<u16>), AddressError> {
    let empty_host = || AddressError::EmptyHost {
        address: address.to_owned(),
    };
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| AddressError::UnclosedBracket {
                address: address.to_owned(),
            })?;
        if host.is_empty() {
            return Err(empty_host());
        }
        return match after {
            "" => Ok((host.to_owned(), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host.to_owned(), Some(parse_port(address, port)?))),
                None => Err(AddressError::AfterBracket {
                    address: address.to_owned(),
                    after: after.to_owned(),
                }),
            },
        };
    }
    match address.matches(':').count() {
        0 => Ok((address.to_owned(), None)),
        1 => {
            let (host, port) = address.split_once(':').unwrap_or((address, ""));
            if host.is_empty() {
                return Err(empty_host());
            }
            Ok((host.to_owned(), Some(parse_port(address, port)?)))
        }
        // A bare IPv6 literal (or a scoped one, `fe80::1%3`): no port can be told apart.
        _ => Ok((address.to_owned(), None)),
    }
}

fn parse_port(address: &str, port: &str) -> Result<u16, AddressError> {
    match port.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(AddressError::BadPort {
            address: address.to_owned(),
            port: port.to_owned(),
        }),
        Ok(p) => Ok(p),
    }
}

/// `host` or `host:port` (port omitted when it is 3389), IPv6 (any host with a `:`) in
/// brackets so the port stays readable.
pub fn join_host_port(host: &str, port: u16) -> String {
    let host = bracket_if_ipv6(host);
    if port == DEFAULT_PORT {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// `[host]` for an IPv6 literal, or any host holding a `:` that would read as a port;
/// the input otherwise (also when already bracketed).
pub fn bracket_if_ipv6(host: &str) -> String {
    if host.starts_with('[') && host.ends_with(']') {
        return host.to_owned();
    }
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        let ok = |s: &str, h: &str, p: Option<u16>| {
            assert_eq!(split_host_port(s), Ok((h.to_owned(), p)), "{s}")
        };
        ok("server", "server", None);
        ok(" server:3390 ", "server", Some(3390));
        ok("10.0.0.1:3389", "10.0.0.1", Some(3389));
        ok("[::1]", "::1", None);
        ok("[::1]:3390", "::1", Some(3390));
        ok("fe80::1", "fe80::1", None);
        for bad in [
            "",
            "server:",
            "server:x",
            "server:0",
            "server:70000",
            "[::1",
            "[::1]x",
            ":3389",
            "[]:1",
            "a]:b:c",
            "[a[b]",
            "a b",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn joins() {
        assert_eq!(join_host_port("server", 3389), "server");
        assert_eq!(join_host_port("server", 3390), "server:3390");
        assert_eq!(join_host_port("::1", 3389), "[::1]");
        assert_eq!(join_host_port("::1", 3390), "[::1]:3390");
        assert_eq!(join_host_port("fe80::1%eth0", 1), "[fe80::1%eth0]:1");
        for (h, p) in [
            ("server", 3390),
            ("::1", 3389),
            ("::1", 5),
            ("10.0.0.1", 3389),
        ] {
            let (host, port) = split_host_port(&join_host_port(h, p)).unwrap();
            assert_eq!((host.as_str(), port.unwrap_or(3389)), (h, p));
        }
    }
}
