//! A writer killed with SIGKILL at random moments while saving leaves the old or the new
//! profile, never a torn one. The test re-runs its own binary as the writer (a child that
//! rewrites a ~300 KiB profile in a loop, each generation self-consistent), kills it after a
//! random delay, and checks the file every time.

mod common;

use std::time::{Duration, Instant};

use common::{spawn_self, Rng, Scratch};
use rdpshim_profiles::{Profile, ProfileStore};

const WRITER_ENV: &str = "RDPSHIM_TEST_CRASH_WRITER_ROOT";
const ROUND_ENV: &str = "RDPSHIM_TEST_CRASH_ROUND";
const HOST: &str = "crash.example";
const ENTRIES: usize = 3000;

/// The child: rewrites the profile forever; every generation carries `<round>.<n>` in
/// `username` and in every `rdp_extra` value. A no-op in a normal test run.
#[test]
fn crash_writer_child() {
    let Ok(root) = std::env::var(WRITER_ENV) else {
        return;
    };
    let round = std::env::var(ROUND_ENV).unwrap_or_default();
    let store = ProfileStore::open(root);
    let padding = "x".repeat(80);
    for generation in 0u64.. {
        store
            .update(HOST, 3389, |p| {
                let mut p = p.unwrap_or_else(|| Profile::new(HOST, 3389, "2026-01-01T00:00:00Z"));
                let stamp = format!("{round}.{generation}");
                p.username = Some(stamp.clone());
                for i in 0..ENTRIES {
                    p.rdp_extra
                        .insert(format!("k{i:05}"), format!("s:{stamp}-{padding}"));
                }
                p
            })
            .unwrap();
    }
}

#[test]
fn sigkill_during_save_never_tears_the_file() {
    let scratch = Scratch::new("crash");
    let store = ProfileStore::open(&scratch.0);
    let rounds: usize = std::env::var("RDPSHIM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut rng = Rng::new(0x5eed_c0de);
    let mut generations = std::collections::BTreeSet::new();
    let mut temp_left_behind = 0;
    let started = Instant::now();

    for round in 0..rounds {
        let mut child = spawn_self(
            "crash_writer_child",
            &[
                (WRITER_ENV, scratch.0.display().to_string()),
                (ROUND_ENV, round.to_string()),
            ],
        );
        std::thread::sleep(Duration::from_millis(20 + rng.below(180) as u64));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        temp_left_behind += std::fs::read_dir(store.dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                    .count()
            })
            .unwrap_or(0);

        let Some(profile) = store.load(HOST, 3389).expect("never torn: always parses") else {
            continue; // killed before the first save finished
        };
        let stamp = profile.username.clone().expect("username");
        assert_eq!(profile.rdp_extra.len(), ENTRIES);
        assert!(
            profile
                .rdp_extra
                .values()
                .all(|v| v.starts_with(&format!("s:{stamp}-"))),
            "a profile mixes generations"
        );
        generations.insert(stamp);
    }
    eprintln!(
        "{rounds} kills in {:.1?}: {} distinct generations seen, {temp_left_behind} \
         half-written temp files left by killed writers (never mistaken for the profile)",
        started.elapsed(),
        generations.len()
    );
    assert!(
        generations.len() > 1,
        "the writer never got to save: the test proved nothing"
    );
}
