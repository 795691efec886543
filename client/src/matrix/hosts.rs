//! The rows of the matrix: hosts from the command line and from `--hosts-file`.

use std::fmt;

pub use crate::host::HostPort as Target;

/// A line of a hosts file that is not a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFileError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HostsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One `HOST[:PORT]` per line; `#` starts a comment; blank lines are ignored.
pub fn parse_hosts_file(text: &str) -> Result<Vec<Target>, HostsFileError> {
    let mut targets = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let error = |message: String| HostsFileError {
            line: index + 1,
            message,
        };
        if line.split_whitespace().nth(1).is_some() {
            return Err(error(format!("`{line}`: one HOST[:PORT] per line")));
        }
        targets.push(Target::parse(line).map_err(|e| error(e.to_string()))?);
    }
    Ok(targets)
}

/// The hosts in order of first appearance, each once; also the labels given more than once
/// (a host twice would double its cells and its load).
pub fn dedup(targets: Vec<Target>) -> (Vec<Target>, Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::new();
    let mut repeated = Vec::new();
    for target in targets {
        if seen.insert(target.label()) {
            unique.push(target);
        } else {
            repeated.push(target.label());
        }
    }
    (unique, repeated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_files_take_comments_blank_lines_and_ports() {
        let text = "# lab\nsrv1\n\n  srv2:3390   # TLS 1.0 box\n[::1]:20000\n10.0.0.5\n";
        let labels: Vec<String> = parse_hosts_file(text)
            .unwrap()
            .iter()
            .map(Target::label)
            .collect();
        assert_eq!(
            labels,
            ["srv1:3389", "srv2:3390", "[::1]:20000", "10.0.0.5:3389"]
        );
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let err = parse_hosts_file("srv1\nsrv2:99999\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err = parse_hosts_file("# x\nsrv1 srv2\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("one HOST[:PORT] per line"));
    }

    #[test]
    fn duplicates_are_dropped_and_reported() {
        let targets = ["a", "a:3389", "b:1", "a:3390"]
            .iter()
            .map(|t| Target::parse(t).unwrap())
            .collect();
        let (unique, repeated) = dedup(targets);
        let labels: Vec<String> = unique.iter().map(Target::label).collect();
        assert_eq!(labels, ["a:3389", "b:1", "a:3390"]);
        assert_eq!(repeated, ["a:3389"]);
    }
}
