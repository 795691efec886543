//! Text a server controls, made safe for a terminal. A certificate subject, an NTLM name,
//! an alert text or a `.rdp` value can hold ESC sequences that clear the screen, recolour,
//! retitle the window or move the cursor, CR or LF that forge a line of rdpshim's own
//! output, or bidi overrides that make text read in another order than it is. Every such
//! character is shown as a visible escape (`\x1b`, `\r`, `\u{202e}`) instead.
//!
//! Applied at the rendering edge, to each piece of server text as it is formatted (a whole
//! line cannot be escaped after the fact: a forged LF would already be a line). `--json`
//! output is not escaped here: serde escapes control characters itself and keeps the exact
//! text.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0 including ESC, CR, LF, TAB and NUL; DEL; C1
/// including U+009B CSI) and every bidi control (U+061C, U+200E/F, U+202A..E, U+2066..9)
/// shown as an escape; unchanged (and not copied) when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Unicode's bidirectional formatting characters (UAX #9): marks, embeddings, overrides
/// and isolates (CVE-2021-42574, "Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_become_visible_escapes() {
        let cases = [
            ("CN=plain, O=Example Ünïcode", "CN=plain, O=Example Ünïcode"),
            ("\u{1b}[2J\u{1b}]0;title\u{7}", "\\x1b[2J\\x1b]0;title\\x07"),
            ("a\r\nFOUND b", "a\\r\\nFOUND b"),
            ("nul\0tab\tdel\u{7f}", "nul\\x00tab\\tdel\\x7f"),
            ("csi\u{9b}31m c1\u{85}", "csi\\u{9b}31m c1\\u{85}"),
            (
                "abc\u{202e}fed\u{2066}x\u{2069}\u{200f}",
                "abc\\u{202e}fed\\u{2066}x\\u{2069}\\u{200f}",
            ),
        ];
        for (input, shown) in cases {
            assert_eq!(escape(input), shown, "{input:?}");
        }
        assert!(matches!(escape("nothing to do"), Cow::Borrowed(_)));
    }

    #[test]
    fn nothing_escaped_is_left_that_a_terminal_would_act_on() {
        let every: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let shown = escape(&every);
        assert!(!shown.chars().any(needs_escape), "{shown:?}");
    }
}
