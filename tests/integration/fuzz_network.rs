//! The network parsers' fuzzer on the stable toolchain (cargo-fuzz needs nightly or
//! RUSTC_BOOTSTRAP): seeded mutations of the corpus in `client/testdata/fuzz/corpus/` fed to
//! the same checks as the libFuzzer targets in `fuzz/` ([`rdpshim::fuzzing`]), and every
//! kept crash input (`client/testdata/fuzz/regressions/`) replayed.
//!
//! No coverage feedback; instead the mutations know the formats a little: length fields at
//! their boundaries are spliced in, and the TPKT, fast-path and DER length at the front is
//! sometimes set to the input's real length, so the decoders behind the framing are reached.
//!
//!     RDPSHIM_FUZZ_ITERATIONS=N   iterations per target (default 3000: about a second)
//!     RDPSHIM_FUZZ_SECONDS=S      or a time budget per target
//!     RDPSHIM_FUZZ_SEED=X         PRNG seed (default fixed, so runs repeat)
//!
//! A failing input is written to `target/fuzz-stable-crashes/<target>/`, to be copied into
//! `client/testdata/fuzz/regressions/<target>/` once fixed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdpshim::fuzzing;
use rdpshim_lab::mutate::mutate_bytes;
use rdpshim_test_acceptor::garbage::Rng;

/// A fuzz target: its name (the corpus directory) and its check.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 5] = [
    ("x224_confirm", fuzzing::x224_confirm),
    ("ts_request", fuzzing::ts_request),
    ("ntlm_challenge", fuzzing::ntlm_challenge),
    ("certificate", fuzzing::certificate),
    ("framing", fuzzing::framing),
];

/// Length fields at the boundaries the framing and the decoders care about.
const TOKENS: &[&[u8]] = &[
    &[0x00],
    &[0x7F],
    &[0x80],
    &[0xFF],
    &[0x03, 0x00, 0x00, 0x00],
    &[0x03, 0x00, 0x00, 0x03],
    &[0x03, 0x00, 0x00, 0x04],
    &[0x03, 0x00, 0xFF, 0xFF],
    &[0x00, 0xFF, 0xFF],
    &[0x00, 0x80, 0x00],
    &[0x30, 0x80],
    &[0x30, 0x81, 0x80],
    &[0x30, 0x82, 0xFF, 0xFB],
    &[0x30, 0x82, 0xFF, 0xFF],
    &[0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF],
    &[0xFF, 0xFF, 0xFF, 0xFF],
    &[0x02, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00],
    b"NTLMSSP\0",
    &[0x17, 0x0D],
    &[0x18, 0x0F],
];

fn testdata(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fuzz")
        .join(kind)
        .join(target)
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Sets the length at the front to the input's real length, as TPKT, fast-path or DER
/// (whichever the first byte says), so the decoder behind the framing gets the input.
fn fix_length(data: &mut Vec<u8>) {
    let len = data.len();
    match data.first() {
        Some(0x03) if len >= 4 => {
            let [hi, lo] = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
            data[2] = hi;
            data[3] = lo;
        }
        Some(0x30) if len >= 4 => {
            let content = u16::try_from(len - 4).unwrap_or(u16::MAX).to_be_bytes();
            data.splice(1..2, [0x82, content[0], content[1]]);
            data.truncate(len);
        }
        Some(first) if first & 0x03 == 0 && len >= 3 => {
            let value = u16::try_from(len.min(0x7FFF)).unwrap_or(0x7FFF);
            data[1] = 0x80 | (value >> 8) as u8;
            data[2] = (value & 0xFF) as u8;
        }
        _ => {}
    }
}

fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pick = rng.below(10);
        if mutate_bytes(&mut data, pick, pool, &mut |n| rng.below(n)) {
            continue;
        }
        let len = data.len();
        match pick {
            6 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = if rng.below(3) == 0 {
                    0
                } else {
                    rng.below(len + 1)
                };
                data.splice(at..at, token.iter().copied());
            }
            7 if len > 0 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len);
                let end = (at + token.len()).min(len);
                data.splice(at..end, token.iter().copied());
            }
            8 if len > 0 => data.truncate(rng.below(len)),
            _ => fix_length(&mut data),
        }
    }
    data
}

/// Runs `check` on `input`; a panic is reported with the input saved for replay.
fn run_one(target: &str, check: fn(&[u8]), input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| check(input))) {
        Ok(()) => Ok(()),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/fuzz-stable-crashes")
                .join(target);
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("crash-{:016x}", fnv(input)));
            let _ = std::fs::write(&path, input);
            Err(format!(
                "{target}: {why} (input saved to {})",
                path.display()
            ))
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn kept_inputs_replay_without_a_panic() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, check) in TARGETS {
        let corpus = files(&testdata("corpus", target));
        assert!(!corpus.is_empty(), "no corpus for {target}");
        for (path, bytes) in corpus
            .iter()
            .chain(&files(&testdata("regressions", target)))
        {
            replayed += 1;
            if let Err(why) = run_one(target, check, bytes) {
                failures.push(format!("{}: {why}", path.display()));
            }
        }
    }
    assert!(replayed > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeded_mutations_never_break_a_parser() {
    let iterations = env_number("RDPSHIM_FUZZ_ITERATIONS").unwrap_or(3000);
    let budget = env_number("RDPSHIM_FUZZ_SECONDS").map(Duration::from_secs);
    let seed = env_number("RDPSHIM_FUZZ_SEED").unwrap_or(0x5EED_F00D);
    let mut failures = Vec::new();
    for (index, (target, check)) in TARGETS.into_iter().enumerate() {
        let mut rng = Rng::new(seed.wrapping_add(index as u64));
        let mut pool: Vec<Vec<u8>> = files(&testdata("corpus", target))
            .into_iter()
            .chain(files(&testdata("regressions", target)))
            .map(|(_, bytes)| bytes)
            .collect();
        let seeds = pool.len();
        let started = Instant::now();
        let mut runs = 0u64;
        while match budget {
            Some(budget) => started.elapsed() < budget,
            None => runs < iterations,
        } {
            let parent = pool[rng.below(pool.len())].clone();
            let input = mutate(&mut rng, &parent, &pool);
            if let Err(why) = run_one(target, check, &input) {
                failures.push(why);
                break;
            }
            // A rolling pool of recent inputs beside the seeds: mutations build on
            // mutations.
            if pool.len() < seeds + 256 {
                pool.push(input);
            } else {
                let slot = seeds + rng.below(256);
                pool[slot] = input;
            }
            runs += 1;
        }
        eprintln!(
            "{target}: {runs} inputs in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
