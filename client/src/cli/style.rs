//! Colour and `-q`, decided once at start-up from the global flags and the environment,
//! and asked by whatever prints.
//!
//! Colour follows what people expect from ripgrep, fd and git: `--color auto` (the default)
//! colours a stream only when it is a terminal, `TERM` is not `dumb` and `NO_COLOR` is unset
//! or empty (<https://no-color.org>); `--color always` colours even a pipe (for `less -R`)
//! and wins over `NO_COLOR`, as a command-line flag should; `--color never` never does. Each
//! stream is decided on its own: `rdpshim connect HOST 2>log` keeps colour on stdout and
//! none in the log. Cursor control (the progress line) is not colour: it needs a terminal
//! whatever `--color` says ([`cursor_control`]).
//!
//! `-q` keeps the verdict line only: the per-attempt lines, notes, warnings and details
//! go, errors and prompts stay, and so does what was asked for (`--json`, an export).

use std::ffi::OsStr;
use std::io::IsTerminal as _;
use std::sync::OnceLock;

use super::flags::ColorChoice;

#[derive(Debug, Clone, Copy)]
struct Decided {
    stdout: bool,
    stderr: bool,
    quiet: bool,
}

static DECIDED: OnceLock<Decided> = OnceLock::new();

/// Decides colour for both streams and `-q`; later calls change nothing.
pub fn init(choice: ColorChoice, quiet: bool) {
    let no_color = std::env::var_os("NO_COLOR");
    let term = std::env::var_os("TERM");
    let decide = |tty: bool| colour(choice, no_color.as_deref(), term.as_deref(), tty);
    let _ = DECIDED.set(Decided {
        stdout: decide(std::io::stdout().is_terminal()),
        stderr: decide(std::io::stderr().is_terminal()),
        quiet,
    });
}

fn decided() -> Decided {
    DECIDED.get().copied().unwrap_or(Decided {
        stdout: false,
        stderr: false,
        quiet: false,
    })
}

/// Whether a stream gets colour: the rule above, as a pure function.
pub fn colour(
    choice: ColorChoice,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
    tty: bool,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            tty && no_color.is_none_or(OsStr::is_empty) && term.is_none_or(|t| t != "dumb")
        }
    }
}

/// `-q`: the verdict line only.
pub fn quiet() -> bool {
    decided().quiet
}

/// A progress line that rewrites itself (`\r`, erase line) is for a person at a terminal
/// that understands it: `stream_is_terminal` and `TERM` not `dumb`.
pub fn cursor_control(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Colours for text on standard error.
pub fn err() -> Paint {
    Paint(decided().stderr)
}

/// Colours for text on standard output.
pub fn out() -> Paint {
    Paint(decided().stdout)
}

/// SGR colours for one stream, or plain text when the stream gets none.
#[derive(Debug, Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    fn sgr(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A success: connected, `ok`.
    pub fn good(self, text: &str) -> String {
        self.sgr("32", text)
    }

    /// A failure: not connected, a failure class, a cause found.
    pub fn bad(self, text: &str) -> String {
        self.sgr("31", text)
    }

    /// `warning:`.
    pub fn warn(self, text: &str) -> String {
        self.sgr("33", text)
    }

    /// `note:` and other asides.
    pub fn dim(self, text: &str) -> String {
        self.sgr("2", text)
    }

    /// A line of rdpshim's that starts with `warning:` or `note:` gets that word coloured.
    pub fn prefixed(self, line: &str) -> String {
        for (prefix, paint) in [
            ("warning:", Self::warn as fn(Self, &str) -> String),
            ("note:", Self::dim),
        ] {
            if let Some(rest) = line.strip_prefix(prefix) {
                return format!("{}{rest}", paint(self, prefix));
            }
        }
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_a_terminal_unless_no_color_or_a_dumb_terminal() {
        let auto = |no_color: Option<&str>, term: Option<&str>, tty| {
            colour(
                ColorChoice::Auto,
                no_color.map(OsStr::new),
                term.map(OsStr::new),
                tty,
            )
        };
        assert!(auto(None, Some("xterm-256color"), true));
        assert!(auto(None, None, true));
        assert!(!auto(None, Some("xterm"), false), "a pipe or file");
        assert!(!auto(Some("1"), Some("xterm"), true), "NO_COLOR");
        assert!(auto(Some(""), Some("xterm"), true), "an empty NO_COLOR");
        assert!(!auto(None, Some("dumb"), true));
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let no_color = Some(OsStr::new("1"));
        assert!(colour(ColorChoice::Always, no_color, None, false));
        assert!(!colour(
            ColorChoice::Never,
            None,
            Some(OsStr::new("xterm")),
            true
        ));
    }

    #[test]
    fn plain_paint_adds_nothing() {
        let plain = Paint(false);
        for text in [
            plain.good("ok"),
            plain.bad("x"),
            plain.prefixed("warning: y"),
        ] {
            assert!(!text.contains('\x1b'), "{text:?}");
        }
        assert_eq!(Paint(true).good("ok"), "\x1b[32mok\x1b[0m");
        assert_eq!(
            Paint(true).prefixed("warning: nla-off"),
            "\x1b[33mwarning:\x1b[0m nla-off"
        );
        assert_eq!(Paint(true).prefixed("attempt 1"), "attempt 1");
    }
}
