//! POSIX shell quoting, so a printed command line can be pasted into sh/bash/zsh as is.

/// `arg` unchanged if it holds only characters no POSIX shell (nor zsh, where a leading
/// `=` expands) treats specially,
/// otherwise in single quotes (a `'` inside becomes `'\''`).
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b':' | b'.' | b',' | b'-' | b'_' | b'+' | b'@' | b'%'
                )
        });
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The arguments quoted and joined with spaces.
pub fn join(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("/v:server.example:3390"), "/v:server.example:3390");
        assert_eq!(quote("+auth-only"), "+auth-only");
        assert_eq!(quote("/u:CORP\\alice"), r"'/u:CORP\alice'");
        assert_eq!(quote("/d:O'Brien"), r"'/d:O'\''Brien'");
        assert_eq!(quote("/v:[::1]:3390"), "'/v:[::1]:3390'");
        assert_eq!(quote("a b$c`d"), "'a b$c`d'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn the_shell_reads_back_the_same_arguments() {
        let argv: Vec<String> = [
            "x",
            "a b",
            "it's",
            "$HOME",
            "[x]",
            "*",
            "back\\slash",
            "new\nline",
        ]
        .map(String::from)
        .to_vec();
        let line = join(&argv);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output();
        let Ok(out) = out else { return };
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect();
        assert_eq!(got, argv, "{line}");
    }
}
