//! 20 separate processes updating one profile at once lose no update (the lock is a real
//! inter-process lock, not only between threads).

mod common;

use common::{spawn_self, Scratch};
use rdpshim_profiles::{Profile, ProfileStore};

const ROOT_ENV: &str = "RDPSHIM_TEST_CONCURRENT_ROOT";
const ID_ENV: &str = "RDPSHIM_TEST_CONCURRENT_ID";
const PROCESSES: usize = 20;
const UPDATES_EACH: usize = 5;

/// The child: adds `UPDATES_EACH` keys of its own. A no-op in a normal test run.
#[test]
fn concurrent_writer_child() {
    let (Ok(root), Ok(id)) = (std::env::var(ROOT_ENV), std::env::var(ID_ENV)) else {
        return;
    };
    let store = ProfileStore::open(root);
    for j in 0..UPDATES_EACH {
        store
            .update("busy.example", 3389, |p| {
                let mut p = p.unwrap_or_else(|| Profile::new("busy.example", 3389, "now"));
                p.rdp_extra.insert(format!("p{id}-{j}"), format!("i:{j}"));
                p
            })
            .unwrap();
    }
}

#[test]
fn twenty_processes_lose_no_update() {
    let scratch = Scratch::new("procs");
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            spawn_self(
                "concurrent_writer_child",
                &[
                    (ROOT_ENV, scratch.0.display().to_string()),
                    (ID_ENV, i.to_string()),
                ],
            )
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let profile = ProfileStore::open(&scratch.0)
        .load("busy.example", 3389)
        .unwrap()
        .unwrap();
    assert_eq!(profile.rdp_extra.len(), PROCESSES * UPDATES_EACH);
}
