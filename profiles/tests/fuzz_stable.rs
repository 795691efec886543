//! A fuzzer that runs on the stable toolchain (cargo-fuzz needs nightly): deterministic
//! mutations of the seed corpus (`tests/fuzz_corpus/`) and the regressions, fed to the same
//! checks as the libFuzzer targets in `fuzz/` ([`rdpshim_profiles::fuzzing`]).
//!
//! No coverage feedback; instead mutations know the formats a little: `.rdp` inputs are also
//! mutated as decoded text and re-encoded (UTF-16 stays UTF-16), tokens from both grammars
//! are spliced in, and inputs that parse are kept in the corpus to mutate further.
//!
//!     RDPSHIM_FUZZ_ITERATIONS=N   iterations per target (default 2000: seconds in CI)
//!     RDPSHIM_FUZZ_SECONDS=S      or a time budget per target
//!     RDPSHIM_FUZZ_SEED=X         PRNG seed (default fixed, so runs repeat)
//!
//! A failing input is written to `target/fuzz-stable-crashes/<target>/` to be copied into
//! `tests/fuzz_regressions/<target>/`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Rng;
use rdpshim_lab::mutate::mutate_bytes;
use rdpshim_profiles::fuzzing::{check_profile_toml, check_rdpfile};
use rdpshim_profiles::profile_toml::parse_profile;
use rdpshim_profiles::rdpfile;

const RDP_TOKENS: &[&str] = &[
    ":",
    ":s:",
    ":i:",
    ":b:",
    "\r\n",
    "\n",
    "\r",
    "\0",
    "\u{feff}",
    "[",
    "]",
    "[::1]:3390",
    "full address:s:",
    "alternate full address:s:",
    "server port:i:",
    "username:s:",
    "domain:s:",
    "password 51:b:0102",
    "Password:s:x",
    "enablecredsspsupport:i:0",
    "authentication level:i:0",
    "gatewayusagemethod:i:1",
    "gatewayhostname:s:gw",
    "remoteapplicationmode:i:1",
    "\\",
    "%",
    " ",
    "\t",
    "-9223372036854775808",
    "99999999999999999999",
    "65536",
    "0",
    "\u{1F600}",
    "\u{d7ff}",
    "é",
];

const TOML_TOKENS: &[&str] = &[
    "=",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "[[outcomes]]",
    "[winning]",
    "[certificate]",
    "[rdp_extra]",
    "{",
    "}",
    ",",
    "\n",
    "#",
    "schema = 2",
    "schema = 0",
    "schema = 1",
    "port = 0",
    "port = 65535",
    "port = 65536",
    "host = \"\"",
    "host = \"a/b\"",
    "host = \"con.x\"",
    "dial = \"ip\"",
    "dial = \"name\"",
    "nla = true",
    "\\u0000",
    "\\n",
    "addresses = [\"a\",\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]",
    "1979-05-27T07:32:00Z",
    "inf",
    "nan",
    "9223372036854775807",
    "\0",
    "\u{feff}",
    "\r\n",
    "é",
];

struct Target {
    name: &'static str,
    check: fn(&[u8]),
    tokens: &'static [&'static str],
    /// Whether an input "went deep" and is worth keeping to mutate further.
    interesting: fn(&[u8]) -> bool,
}

fn rdp_interesting(bytes: &[u8]) -> bool {
    rdpfile::import_bytes(bytes, "now").is_ok()
}

fn profile_interesting(bytes: &[u8]) -> bool {
    parse_profile(bytes).is_ok()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = Vec::new();
    for dir in ["fuzz_corpus", "fuzz_regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            out.push(std::fs::read(path).unwrap());
        }
    }
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    // Structure-aware: mutate decoded text and encode it back the same way.
    if rng.chance(30) {
        if let Ok(decoded) = rdpfile::decode(input) {
            let text = mutate_text(rng, &decoded.text, tokens);
            let format = rdpfile::OutputFormat {
                encoding: decoded.encoding,
                bom: decoded.bom,
                line_ending: rdpfile::LineEnding::Lf,
            };
            return rdpfile::encode(&text, format);
        }
    }
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pick = rng.below(9);
        if mutate_bytes(&mut data, pick, corpus, &mut |n| rng.below(n)) {
            continue;
        }
        let len = data.len();
        match pick {
            6 => {
                let token = tokens[rng.below(tokens.len())].as_bytes();
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            7 if len > 0 => data.truncate(rng.below(len)),
            _ => {
                // Repeat a line many times: long files, many properties.
                if let Some(line) = data.split(|&b| b == b'\n').nth(rng.below(8)) {
                    let line = [line, b"\n"].concat();
                    for _ in 0..rng.below(200) {
                        data.extend_from_slice(&line);
                    }
                }
            }
        }
    }
    data
}

fn mutate_text(rng: &mut Rng, text: &str, tokens: &[&str]) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for _ in 0..1 + rng.below(3) {
        let n = lines.len();
        let i = rng.below(n);
        match rng.below(5) {
            0 => {
                let token = tokens[rng.below(tokens.len())];
                let line = &mut lines[i];
                let mut at = rng.below(line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.insert_str(at, token);
            }
            1 => {
                let dup = lines[i].clone();
                lines.insert(rng.below(n + 1), dup);
            }
            2 if n > 1 => {
                lines.remove(i);
            }
            3 => {
                let j = rng.below(n);
                lines.swap(i, j);
            }
            _ => {
                let line = &mut lines[i];
                if let Some(colon) = line.rfind(':') {
                    line.truncate(colon + 1);
                    line.push_str(tokens[rng.below(tokens.len())]);
                }
            }
        }
    }
    lines.join("\n")
}

fn run(target: Target) {
    let iterations: u64 = env_number("RDPSHIM_FUZZ_ITERATIONS").unwrap_or(2000);
    let budget = env_number("RDPSHIM_FUZZ_SECONDS").map(Duration::from_secs);
    let seed = env_number("RDPSHIM_FUZZ_SEED").unwrap_or(0x0dd_ba11);
    let mut rng = Rng::new(seed ^ target.name.len() as u64);
    let mut corpus = seeds(target.name);
    let started = Instant::now();
    let mut done = 0u64;

    quiet_panics_in_checks();
    let mut failure = None;
    while budget.map_or(done < iterations, |b| started.elapsed() < b) {
        let parent = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, parent, &corpus, target.tokens);
        done += 1;
        IN_CHECK.set(true);
        let result = catch_unwind(AssertUnwindSafe(|| (target.check)(&input)));
        IN_CHECK.set(false);
        if let Err(panic) = result {
            failure = Some((input, panic));
            break;
        }
        if corpus.len() < 2000
            && input.len() < 64 * 1024
            && rng.chance(20)
            && (target.interesting)(&input)
        {
            corpus.push(input);
        }
    }

    eprintln!(
        "fuzz_stable {}: {done} iterations in {:.1?}, corpus {} (seed {seed:#x})",
        target.name,
        started.elapsed(),
        corpus.len()
    );
    if let Some((input, panic)) = failure {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/fuzz-stable-crashes")
            .join(target.name);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("crash-{:016x}", fnv1a(&input)));
        std::fs::write(&path, &input).unwrap();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "{} failed after {done} iterations: {message}\ninput saved to {} \
             (copy it to tests/fuzz_regressions/{}/)",
            target.name,
            path.display(),
            target.name
        );
    }
}

thread_local! {
    static IN_CHECK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics inside a check are caught and reported with their input; others print as usual.
fn quiet_panics_in_checks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CHECK.get() {
                default(info);
            }
        }));
    });
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn rdpfile_reader() {
    run(Target {
        name: "rdpfile",
        check: check_rdpfile,
        tokens: RDP_TOKENS,
        interesting: rdp_interesting,
    });
}

#[test]
fn profile_reader() {
    run(Target {
        name: "profile",
        check: check_profile_toml,
        tokens: TOML_TOKENS,
        interesting: profile_interesting,
    });
}
