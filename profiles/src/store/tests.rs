use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use super::*;
use crate::model::OutcomeRecord;
use crate::safe_file::FileError;

const NOW: &str = "2026-11-21T12:00:00Z";

/// A scratch configuration root, removed on drop.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rdpshim-profiles-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        Self(dir)
    }
    fn store(&self) -> ProfileStore {
        ProfileStore::open(&self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An update that creates the profile if needed and sets the user name.
fn add_user(host: &str, port: u16) -> impl FnOnce(Option<Profile>) -> Profile + '_ {
    move |p| {
        let mut p = p.unwrap_or_else(|| Profile::new(host, port, NOW));
        p.username = Some("alice".into());
        p
    }
}

#[test]
fn update_creates_then_load_reads_back() {
    let scratch = Scratch::new("basic");
    let store = scratch.store();
    assert_eq!(store.load("server.example", 3389).unwrap(), None);
    let saved = store
        .update("server.example", 3389, add_user("Server.Example", 3389))
        .unwrap();
    assert_eq!(saved.host, "Server.Example");
    let loaded = store.load("SERVER.example", 3389).unwrap().unwrap();
    assert_eq!(loaded, saved);
    assert!(store.dir().join("server.example_3389.toml").is_file());
    assert_eq!(store.load("server.example", 3390).unwrap(), None);
}

#[cfg(unix)]
#[test]
fn files_are_0600_and_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("modes");
    let store = scratch.store();
    store
        .update("server", 3389, add_user("server", 3389))
        .unwrap();
    store
        .update("server", 3389, add_user("server", 3389))
        .unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store.path_for("server", 3389).unwrap()), 0o600);
    assert_eq!(mode(&store.dir().join("server_3389.toml.lock")), 0o600);
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(store.root()), 0o700);
}

#[test]
fn unparsable_file_is_reported_with_its_line_and_never_overwritten() {
    let scratch = Scratch::new("unparsable");
    let store = scratch.store();
    store
        .update("server", 3389, add_user("server", 3389))
        .unwrap();
    let path = store.path_for("server", 3389).unwrap();
    let broken = b"schema = 1\nhost = \"server\"\nport = 3389\nusername = alice\n".to_vec();
    fs::write(&path, &broken).unwrap();

    let err = store.load("server", 3389).unwrap_err();
    match &err {
        StoreError::Unparsable { path: p, line, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 4);
        }
        other => panic!("{other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("server_3389.toml:4:"), "{shown}");

    let mut called = false;
    let err = store
        .update("server", 3389, |p| {
            called = true;
            add_user("server", 3389)(p)
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unparsable { line: 4, .. }),
        "{err}"
    );
    assert!(!called, "update must not call f on a broken file");
    assert_eq!(fs::read(&path).unwrap(), broken, "bytes unchanged");
}

#[test]
fn newer_schema_is_never_overwritten() {
    let scratch = Scratch::new("newer");
    let store = scratch.store();
    store
        .update("server", 3389, add_user("server", 3389))
        .unwrap();
    let path = store.path_for("server", 3389).unwrap();
    let newer = b"schema = 9\nhost = \"server\"\nnew_thing = { a = 1 }\n".to_vec();
    fs::write(&path, &newer).unwrap();
    let err = store
        .update("server", 3389, add_user("server", 3389))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 9, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer rdpshim"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), newer);
}

#[test]
fn binary_and_oversized_files_give_clear_errors() {
    let scratch = Scratch::new("garbage");
    let store = scratch.store();
    store
        .update("server", 3389, add_user("server", 3389))
        .unwrap();
    let path = store.path_for("server", 3389).unwrap();

    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(&path, &garbage).unwrap();
    let err = store.load("server", 3389).unwrap_err();
    assert!(matches!(err, StoreError::Unparsable { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), garbage);

    let huge = vec![b'#'; MAX_PROFILE_BYTES as usize + 1];
    fs::write(&path, &huge).unwrap();
    let err = store
        .update("server", 3389, add_user("server", 3389))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::File(FileError::TooLarge { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("limit"), "{err}");
    assert_eq!(fs::metadata(&path).unwrap().len(), huge.len() as u64);
}

#[test]
fn repair_moves_the_broken_file_aside_and_salvages() {
    let scratch = Scratch::new("repair");
    let store = scratch.store();
    assert_eq!(
        store.repair("server", 3389).unwrap().outcome,
        RepairOutcome::Missing
    );
    store
        .update("server", 3389, add_user("server", 3389))
        .unwrap();
    assert_eq!(
        store.repair("server", 3389).unwrap().outcome,
        RepairOutcome::Healthy
    );

    let path = store.path_for("server", 3389).unwrap();
    let broken = b"host = \"Server\"\nport = 3389\nusername = \"bob\"\ndomain = \"CORP\"\n\
                   addresses = [\"10.1.1.1:3389\"]\n[winning]\ndial = \"carrier pigeon\"\n"
        .to_vec();
    fs::write(&path, &broken).unwrap();
    let report = store.repair("server", 3389).unwrap();
    let RepairOutcome::Repaired {
        backup,
        salvaged,
        profile,
        problem,
    } = report.outcome
    else {
        panic!("{report:?}")
    };
    assert!(problem.contains(":7:"), "{problem}");
    assert_eq!(fs::read(&backup).unwrap(), broken, "backup keeps the bytes");
    let backup_name = backup.file_name().unwrap().to_str().unwrap();
    assert!(
        backup_name.starts_with("server_3389.toml.broken-20"),
        "{backup_name}"
    );
    assert_eq!(
        salvaged,
        ["host", "port", "username", "domain", "addresses"]
    );
    assert_eq!(profile.host, "Server");
    assert_eq!(profile.domain.as_deref(), Some("CORP"));
    assert_eq!(store.load("server", 3389).unwrap(), Some(*profile));

    // A second broken file in the same second gets its own backup name.
    fs::write(&path, b"\xff\xfe").unwrap();
    let again = store.repair("server", 3389).unwrap();
    let RepairOutcome::Repaired { backup: second, .. } = again.outcome else {
        panic!()
    };
    assert_ne!(second, backup);
    assert!(backup.exists() && second.exists());

    // An oversized file is moved aside unread.
    fs::write(&path, vec![b' '; MAX_PROFILE_BYTES as usize + 10]).unwrap();
    let report = store.repair("server", 3389).unwrap();
    assert!(matches!(report.outcome, RepairOutcome::Repaired { .. }));
    assert!(store.load("server", 3389).unwrap().is_some());
}

#[test]
fn twenty_threads_updating_one_profile_lose_nothing() {
    let scratch = Scratch::new("threads");
    let store = scratch.store();
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                store
                    .update("busy", 3389, |p| {
                        let mut p = p.unwrap_or_else(|| Profile::new("busy", 3389, NOW));
                        p.rdp_extra
                            .insert(format!("writer {i:02}"), format!("i:{i}"));
                        p.record_outcome(OutcomeRecord {
                            at: NOW.into(),
                            outcome: format!("ok-{i}"),
                            stage: "first-frame".into(),
                            attempts: 1,
                            fallbacks: vec![],
                        });
                        p.remember_address(&format!("10.0.0.{i}:3389"));
                        p
                    })
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let p = store.load("busy", 3389).unwrap().unwrap();
    assert_eq!(p.rdp_extra.len(), 20, "{:?}", p.rdp_extra.keys());
    for i in 0..20 {
        assert_eq!(p.rdp_extra[&format!("writer {i:02}")], format!("i:{i}"));
    }
    assert_eq!(p.outcomes.len(), crate::model::MAX_OUTCOMES);
    assert_eq!(p.addresses.len(), crate::model::MAX_ADDRESSES);
    let leftovers: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn list_shows_good_and_broken_and_skips_sidecars() {
    let scratch = Scratch::new("list");
    let store = scratch.store();
    assert!(store.list().unwrap().is_empty());
    store.update("a", 3389, add_user("a", 3389)).unwrap();
    store.update("b", 3390, add_user("b", 3390)).unwrap();
    fs::write(store.dir().join("c_3389.toml"), b"host = [").unwrap();
    fs::write(store.dir().join(".a_3389.toml.tmp-1-1"), b"half").unwrap();
    fs::write(
        store.dir().join("a_3389.toml.broken-20260101T000000Z"),
        b"x",
    )
    .unwrap();
    let listed = store.list().unwrap();
    let names: Vec<_> = listed
        .iter()
        .map(|(p, r)| (p.file_name().unwrap().to_str().unwrap(), r.is_ok()))
        .collect();
    assert_eq!(
        names,
        [
            ("a_3389.toml", true),
            ("b_3390.toml", true),
            ("c_3389.toml", false)
        ]
    );
}

#[test]
fn update_removes_temp_files_a_killed_writer_left() {
    let scratch = Scratch::new("stale");
    let store = scratch.store();
    store.update("a", 3389, add_user("a", 3389)).unwrap();
    let stale = store.dir().join(".a_3389.toml.tmp-99999-3");
    let unrelated = store.dir().join(".a_3389.toml.tmp-5_3389.toml.tmp-1-1");
    fs::write(&stale, b"half").unwrap();
    fs::write(&unrelated, b"other").unwrap();
    store.update("a", 3389, add_user("a", 3389)).unwrap();
    assert!(!stale.exists());
    assert!(unrelated.exists(), "only this profile's temp files go");
}

#[test]
fn a_profile_cannot_be_saved_under_another_hosts_name() {
    let scratch = Scratch::new("mismatch");
    let store = scratch.store();
    let err = store
        .update("a", 3389, |_| Profile::new("b", 3389, NOW))
        .unwrap_err();
    assert!(matches!(err, StoreError::HostMismatch { .. }), "{err}");
    assert_eq!(store.load("a", 3389).unwrap(), None);
    let err = store
        .update("a", 3389, |_| Profile::new("a", 3390, NOW))
        .unwrap_err();
    assert!(matches!(err, StoreError::HostMismatch { .. }), "{err}");
    // Case and IP spelling are the same profile.
    store
        .update("::1", 3389, |_| Profile::new("[0::1]", 3389, NOW))
        .unwrap();
}

#[test]
fn remove_deletes_broken_and_good_files() {
    let scratch = Scratch::new("remove");
    let store = scratch.store();
    assert!(!store.remove("a", 3389).unwrap());
    store.update("a", 3389, add_user("a", 3389)).unwrap();
    fs::write(store.path_for("a", 3389).unwrap(), b"\x00\x01").unwrap();
    assert!(store.remove("a", 3389).unwrap());
    assert_eq!(store.load("a", 3389).unwrap(), None);
}

#[test]
fn invalid_hosts_are_refused() {
    let scratch = Scratch::new("invalid");
    let store = scratch.store();
    let err = store.update("", 3389, add_user("", 3389)).unwrap_err();
    assert!(matches!(err, StoreError::InvalidHost { .. }), "{err}");
    assert!(!store.dir().exists());
}

#[test]
fn root_is_the_override_else_the_config_dir() {
    let config = Some(PathBuf::from("/home/u/.config"));
    assert_eq!(
        root_from(Some("/tmp/x".into()), config.clone()).unwrap(),
        PathBuf::from("/tmp/x")
    );
    assert_eq!(
        root_from(Some("".into()), config.clone()).unwrap(),
        PathBuf::from("/home/u/.config/rdpshim")
    );
    assert_eq!(
        root_from(None, config).unwrap(),
        PathBuf::from("/home/u/.config/rdpshim")
    );
    assert!(matches!(
        root_from(None, None),
        Err(StoreError::NoConfigDir)
    ));
    assert_eq!(ProfileStore::open("/r").dir(), Path::new("/r/profiles"));
}

/// A profile is written with the oldest schema that holds it: without a gateway an
/// rdpshim from before gateways still reads it (schema 1); with one it is schema 2, which
/// such an rdpshim refuses and never overwrites, instead of dropping the gateway.
#[test]
fn the_schema_written_is_the_oldest_that_holds_the_profile() {
    let scratch = Scratch::new("schema");
    let store = scratch.store();
    let plain = store.update("srv", 3389, add_user("srv", 3389)).unwrap();
    assert_eq!(plain.schema, 1);
    let text = fs::read_to_string(store.dir().join("srv_3389.toml")).unwrap();
    assert!(text.starts_with("schema = 1\n"), "{text}");
    let gated = store
        .update("srv", 3389, |p| {
            let mut p = p.unwrap();
            p.gateway = Some(crate::model::Gateway::new("gw.example", 443));
            p
        })
        .unwrap();
    assert_eq!(gated.schema, 2);
    let text = fs::read_to_string(store.dir().join("srv_3389.toml")).unwrap();
    assert!(
        text.starts_with("schema = 2\n") && text.contains("[gateway]"),
        "{text}"
    );
    assert_eq!(store.load("srv", 3389).unwrap().unwrap(), gated);
}
