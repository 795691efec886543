//! Reading Rust source the way the checks need it: the non-test code of every file, with
//! comments and the contents of string literals blanked (so a word in a message or a doc
//! comment is not an import), and every `use` tree expanded into whole paths (so
//! `use std::{fs, io}` reads as `std::fs` and `std::io`).
//!
//! Test code is left out whole: inline `#[cfg(test)]` items (brace-matched, not "everything
//! after the first `#[cfg(test)]`") and the files that `#[cfg(test)] mod x;` declares.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("client/ has a parent")
        .to_path_buf()
}

/// One source file's non-test code.
pub struct Source {
    /// Relative to the workspace, `/`-separated.
    pub path: String,
    /// Same line numbers as the file; comments, string contents and test items blanked.
    pub code: String,
}

impl Source {
    /// `(line number, line)` of every line holding `needle` in code (not in strings or
    /// comments).
    pub fn lines_with(&self, needle: &str) -> Vec<(usize, String)> {
        self.code
            .lines()
            .enumerate()
            .filter(|(_, line)| line.contains(needle))
            .map(|(i, line)| (i + 1, line.trim().to_owned()))
            .collect()
    }

    /// Every path this file names in a `use` item, expanded (`a::{b, c::d}` gives `a::b`
    /// and `a::c::d`; `a::b::{self}` gives `a::b`).
    pub fn use_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        let code = self.code.as_str();
        let mut rest = code;
        while let Some(at) = find_keyword(rest, "use") {
            let after = &rest[at + 3..];
            let Some(end) = after.find(';') else { break };
            expand("", &normalize(&after[..end]), &mut paths);
            rest = &after[end..];
        }
        paths
    }

    /// Places where `needle` is named: in a `use` path, or written out in code.
    pub fn names(&self, needle: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .use_paths()
            .into_iter()
            .filter(|p| p.contains(needle))
            .map(|p| format!("{}: use {p}", self.path))
            .collect();
        found.extend(
            self.lines_with(needle)
                .into_iter()
                .filter(|(_, line)| !line.starts_with("use ") && !line.starts_with("pub use "))
                .map(|(n, line)| format!("{}:{n}: {line}", self.path)),
        );
        found
    }
}

/// A function's signature, from `fn` to its body or `;`, on one line.
pub struct Signature {
    pub text: String,
}

impl Signature {
    /// `-> Result<..., String>` (strings are blanked, so only a type can say `String`).
    pub fn returns_string_error(&self) -> bool {
        let Some((_, returns)) = self.text.rsplit_once("->") else {
            return false;
        };
        let returns: String = returns.split_whitespace().collect();
        returns.starts_with("Result<") && returns.ends_with(",String>")
    }
}

impl Source {
    /// Every `fn` signature in the code.
    pub fn fn_signatures(&self) -> Vec<Signature> {
        let mut signatures = Vec::new();
        let mut rest = self.code.as_str();
        while let Some(at) = find_keyword(rest, "fn") {
            let after = &rest[at..];
            let end = after.find(['{', ';']).unwrap_or(after.len());
            let text = after[..end]
                .split(" where ")
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            signatures.push(Signature { text });
            rest = &after[end..];
        }
        signatures
    }
}

/// The non-test sources under `dir` (relative to the workspace).
pub fn sources(dir: &str) -> Vec<Source> {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    files.sort();
    let mut test_only = BTreeSet::new();
    let mut read = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        let (code, declared) = strip(&text, file);
        test_only.extend(declared);
        read.push((file.clone(), code));
    }
    read.into_iter()
        .filter(|(file, _)| !test_only.contains(file))
        .map(|(file, code)| Source {
            path: file
                .strip_prefix(&root)
                .expect("under the workspace")
                .to_string_lossy()
                .replace('\\', "/"),
            code,
        })
        .collect()
}

/// Every `needle` named by the non-test sources under `dir`, except in files whose path
/// starts with one of `except`.
pub fn offenders(dir: &str, needles: &[&str], except: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources(dir) {
        if except.iter().any(|e| source.path.starts_with(e)) {
            continue;
        }
        for needle in needles {
            found.extend(source.names(needle));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of `text` with comments, string contents and `#[cfg(test)]` items blanked, and
/// the files its `#[cfg(test)] mod x;` items declare.
fn strip(text: &str, file: &Path) -> (String, Vec<PathBuf>) {
    let mut code = blank_comments_and_strings(text.as_bytes());
    let mut declared = Vec::new();
    let marker = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(at) = find(&code, marker, from) {
        let item_start = skip_attributes(&code, at + marker.len());
        let end = item_end(&code, item_start);
        let item = String::from_utf8_lossy(&code[item_start..end]).into_owned();
        let item_text = item.trim();
        // `mod x;`, `pub mod x;`, `pub(crate) mod x;` ...
        let after_visibility = match item_text.strip_prefix("pub") {
            Some(rest) if rest.trim_start().starts_with('(') => {
                rest.split_once(')').map_or(rest, |(_, tail)| tail)
            }
            Some(rest) => rest,
            None => item_text,
        };
        if let Some(name) = after_visibility
            .trim_start()
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(';'))
        {
            let path_attribute = path_attribute(&text[at..item_start]);
            declared.push(module_file(file, name.trim(), path_attribute.as_deref()));
        }
        for byte in &mut code[at..end] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
        from = end;
    }
    (String::from_utf8_lossy(&code).into_owned(), declared)
}

/// Where `mod name;` declared in `file` lives.
fn module_file(file: &Path, name: &str, path_attribute: Option<&str>) -> PathBuf {
    let dir = file.parent().expect("a file has a directory");
    if let Some(path) = path_attribute {
        return dir.join(path);
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let base = if ["mod", "lib", "main"].contains(&stem) {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    let flat = base.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        base.join(name).join("mod.rs")
    }
}

/// `runner_tests.rs` from the original text of `#[cfg(test)] #[path = "runner_tests.rs"]`.
fn path_attribute(attributes: &str) -> Option<String> {
    let at = attributes.find("#[path")?;
    let rest = &attributes[at..];
    let open = rest.find('"')? + 1;
    let close = rest[open..].find('"')? + open;
    Some(rest[open..close].to_owned())
}

/// The index after further attributes and whitespace.
fn skip_attributes(code: &[u8], mut at: usize) -> usize {
    loop {
        while at < code.len() && code[at].is_ascii_whitespace() {
            at += 1;
        }
        if code[at..].starts_with(b"#[") {
            let mut depth = 0;
            while at < code.len() {
                match code[at] {
                    b'[' => depth += 1,
                    b']' => {
                        depth -= 1;
                        if depth == 0 {
                            at += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        } else {
            return at;
        }
    }
}

/// The end of the item starting at `start`: after its `;`, or after the `}` matching its
/// first `{`, whichever comes first at depth 0.
fn item_end(code: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, &byte) in code.iter().enumerate().skip(start) {
        match byte {
            b';' if depth == 0 => return i + 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The next `keyword` that stands as a word.
fn find_keyword(text: &str, keyword: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find(keyword).map(|p| p + from) {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + keyword.len()).copied();
        let word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !word(before) && !word(after) {
            return Some(at);
        }
        from = at + keyword.len();
    }
    None
}

/// A use tree with single spaces, and none around `::`, braces and commas (`a :: { b as c }`
/// reads `a::{b as c}`).
fn normalize(tree: &str) -> String {
    let mut text = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        (" ::", "::"),
        (":: ", "::"),
        (" {", "{"),
        ("{ ", "{"),
        (" }", "}"),
        ("} ", "}"),
        (" ,", ","),
        (", ", ","),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// Expands a [`normalize`]d use tree under `prefix`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else if b == "self" {
            a.to_owned()
        } else {
            format!("{a}::{b}")
        }
    };
    match tree.find('{') {
        None => {
            let path = tree.split(" as ").next().unwrap_or(tree);
            if !path.is_empty() {
                out.push(join(prefix, path.trim_end_matches("::")));
            }
        }
        Some(open) => {
            let head = tree[..open].trim_end_matches("::");
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let base = join(prefix, head);
            for part in split_top_level(inner) {
                expand(&base, part, out);
            }
        }
    }
}

/// Splits `a, b::{c, d}, e` at the commas outside braces.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Comments and the insides of string and char literals as spaces (newlines kept, so line
/// numbers stay); the quotes stay, so `"x"` reads as `" "`.
fn blank_comments_and_strings(src: &[u8]) -> Vec<u8> {
    let mut out = src.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to.min(src.len())] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'/' if src.get(i + 1) == Some(&b'/') => {
                let end = src[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(src.len(), |p| p + i);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < src.len() && depth > 0 {
                    if src[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if src[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' | b'b' if raw_string_start(src, i).is_some() => {
                let (hashes, open) = raw_string_start(src, i).unwrap_or((0, i));
                let mut closing = vec![b'"'];
                closing.extend(std::iter::repeat_n(b'#', hashes));
                let end = find(src, &closing, open + 1).map_or(src.len(), |p| p + closing.len());
                blank(&mut out, open + 1, end.saturating_sub(closing.len()));
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < src.len() && src[j] != b'"' {
                    j += if src[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i + 1, j);
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{1b}') or a lifetime ('a).
                let end = if src.get(i + 1) == Some(&b'\\') {
                    src[i + 2..]
                        .iter()
                        .position(|&b| b == b'\'')
                        .map(|p| p + i + 2)
                } else {
                    let width = src.get(i + 1).map_or(1, |&b| {
                        if b < 0x80 {
                            1
                        } else if b >= 0xF0 {
                            4
                        } else if b >= 0xE0 {
                            3
                        } else {
                            2
                        }
                    });
                    (src.get(i + 1 + width) == Some(&b'\'')).then_some(i + 1 + width)
                };
                match end {
                    Some(end) => {
                        blank(&mut out, i + 1, end);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// For `r"`, `r#"`, `br##"` at `i` (not inside an identifier): the number of `#` and the
/// index of the opening quote.
fn raw_string_start(src: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (src[i - 1].is_ascii_alphanumeric() || src[i - 1] == b'_') {
        return None;
    }
    let mut j = i;
    if src[j] == b'b' {
        j += 1;
    }
    if src.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = src[j..].iter().take_while(|&&b| b == b'#').count();
    (src.get(j + hashes) == Some(&b'"')).then_some((hashes, j + hashes))
}

#[test]
fn the_reader_leaves_out_test_code_comments_and_strings() {
    let dir = std::env::temp_dir().join(format!("rdpshim-arch-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("m.rs"),
        r##"//! tokio in a comment
use std::{fs, io::{self, Read as _}};
const S: &str = "std::net::TcpStream in a string";
const R: &str = r#"Instant in a raw "string""#;
const C: char = '{';
fn f<'a>(x: &'a str) -> &'a str { x }
#[cfg(test)]
mod tests {
    use tokio::net::TcpStream;
    fn g() { let _ = "}"; }
}
pub fn after() -> u32 { 1 }
#[cfg(test)]
#[path = "m/extra.rs"]
mod extra;
#[cfg(test)]
mod t2;
"##,
    )
    .unwrap();
    std::fs::write(dir.join("m/extra.rs"), "use tokio;\n").unwrap();
    std::fs::write(dir.join("m/t2.rs"), "use tokio;\n").unwrap();
    let (code, declared) = strip(
        &std::fs::read_to_string(dir.join("m.rs")).unwrap(),
        &dir.join("m.rs"),
    );
    let source = Source {
        path: "m.rs".into(),
        code,
    };
    assert_eq!(source.use_paths(), ["std::fs", "std::io", "std::io::Read"]);
    for hidden in ["tokio", "TcpStream", "Instant"] {
        assert!(
            source.names(hidden).is_empty(),
            "{hidden}: {:?}",
            source.names(hidden)
        );
    }
    assert_eq!(
        source.lines_with("fn after").len(),
        1,
        "code after the test module is read"
    );
    assert_eq!(declared, [dir.join("m/extra.rs"), dir.join("m/t2.rs")]);
    std::fs::remove_dir_all(&dir).unwrap();
}
