//! The profile store against a hostile configuration directory: links planted at lock
//! files, at profiles and instead of the profile directory, FIFOs, unsafe permissions.
//! Each test snapshots everything outside the profile directory (and the targets of the
//! planted links) and checks nothing there was created or changed.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Scratch;
use rdpshim_lab::fs_snapshot::Snapshot;
use rdpshim_profiles::safe_file::{DirProblem, FileError, FileKind};
use rdpshim_profiles::{Profile, ProfileStore, RepairOutcome, StoreError};

const NOW: &str = "2026-11-30T12:00:00Z";

/// A configuration root `config/` and a directory `outside/` with a file no test may touch.
fn setup(tag: &str) -> (Scratch, ProfileStore) {
    let scratch = Scratch::new(tag);
    fs::create_dir(scratch.0.join("outside")).unwrap();
    fs::write(scratch.0.join("outside/victim"), b"precious\n").unwrap();
    let store = ProfileStore::open(scratch.0.join("config"));
    (scratch, store)
}

fn save(store: &ProfileStore) -> Result<Profile, StoreError> {
    store.update("srv", 3389, |p| {
        let mut p = p.unwrap_or_else(|| Profile::new("srv", 3389, NOW));
        p.username = Some("alice".into());
        p
    })
}

/// Everything under the scratch directory except the profile directory itself.
fn outside_the_store(scratch: &Scratch, store: &ProfileStore) -> Snapshot {
    Snapshot::take(&[&scratch.0], &[store.dir()])
}

#[test]
fn a_dangling_link_at_the_lock_creates_nothing_outside() {
    let (scratch, store) = setup("lock-dangling");
    save(&store).unwrap();
    let lock = store.dir().join("srv_3389.toml.lock");
    let target = scratch.0.join("outside/created-by-lock");
    fs::remove_file(&lock).unwrap();
    symlink(&target, &lock).unwrap();
    let before = outside_the_store(&scratch, &store);
    let profile = fs::read(store.path_for("srv", 3389).unwrap()).unwrap();

    let err = save(&store).unwrap_err();
    assert!(
        matches!(err, StoreError::File(FileError::Symlink { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!target.exists(), "the lock's target was created");
    before.assert_unchanged(&outside_the_store(&scratch, &store));
    assert_eq!(
        fs::read(store.path_for("srv", 3389).unwrap()).unwrap(),
        profile
    );
    assert!(store.remove("srv", 3389).is_err(), "rm takes the lock too");
}

#[test]
fn a_link_at_the_lock_to_a_file_outside_leaves_it_alone() {
    let (scratch, store) = setup("lock-file");
    fs::create_dir_all(store.dir()).unwrap();
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o700)).unwrap();
    symlink(
        scratch.0.join("outside/victim"),
        store.dir().join("srv_3389.toml.lock"),
    )
    .unwrap();
    let before = outside_the_store(&scratch, &store);
    let err = save(&store).unwrap_err();
    assert!(
        matches!(err, StoreError::File(FileError::Symlink { .. })),
        "{err}"
    );
    before.assert_unchanged(&outside_the_store(&scratch, &store));
    assert!(!store.path_for("srv", 3389).unwrap().exists());
}

#[test]
fn a_link_instead_of_the_profile_directory_is_refused_for_every_command() {
    let (scratch, store) = setup("dir-link");
    let elsewhere = scratch.0.join("outside/profiles");
    fs::create_dir(&elsewhere).unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o700)).unwrap();
    fs::create_dir(store.root()).unwrap();
    symlink(&elsewhere, store.dir()).unwrap();
    // Everything, the link's target included: nothing may change anywhere.
    let before = Snapshot::take(&[&scratch.0], &[]);

    let refused = |result: Result<(), StoreError>, what: &str| match result {
        Err(StoreError::File(FileError::UnsafeDirectory {
            problem: DirProblem::Symlink { .. },
            ..
        })) => {}
        other => panic!("{what}: {other:?}"),
    };
    refused(save(&store).map(drop), "update");
    refused(store.load("srv", 3389).map(drop), "load");
    refused(store.list().map(drop), "list");
    refused(store.remove("srv", 3389).map(drop), "remove");
    refused(store.repair("srv", 3389).map(drop), "repair");
    let shown = save(&store).unwrap_err().to_string();
    assert!(shown.contains("RDPSHIM_CONFIG_DIR"), "{shown}");
    before.assert_unchanged(&Snapshot::take(&[&scratch.0], &[]));

    // A dangling one is not created through either.
    fs::remove_file(store.dir()).unwrap();
    symlink(scratch.0.join("outside/nothing"), store.dir()).unwrap();
    assert!(save(&store).is_err());
    assert!(!scratch.0.join("outside/nothing").exists());
}

#[test]
fn a_profile_directory_others_can_write_to_is_refused() {
    let (_scratch, store) = setup("dir-writable");
    save(&store).unwrap();
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o777)).unwrap();
    let err = store.load("srv", 3389).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::File(FileError::UnsafeDirectory {
                problem: DirProblem::Writable { .. },
                ..
            })
        ),
        "{err}"
    );
    assert!(!err.repair_helps());
}

#[test]
fn a_link_at_a_profile_is_never_read_and_repair_moves_the_link_aside() {
    let (scratch, store) = setup("profile-link");
    save(&store).unwrap();
    let path = store.path_for("srv", 3389).unwrap();
    fs::remove_file(&path).unwrap();
    symlink(scratch.0.join("outside/victim"), &path).unwrap();
    let before = outside_the_store(&scratch, &store);

    let err = store.load("srv", 3389).unwrap_err();
    assert!(err.repair_helps(), "{err}");
    assert!(save(&store).is_err(), "update must not replace the link");
    assert!(fs::symlink_metadata(&path).unwrap().is_symlink());
    let listed = store.list().unwrap();
    assert!(listed[0].1.is_err());

    let report = store.repair("srv", 3389).unwrap();
    let RepairOutcome::Repaired { backup, .. } = report.outcome else {
        panic!("{report:?}")
    };
    assert!(fs::symlink_metadata(&backup).unwrap().is_symlink());
    assert_eq!(store.load("srv", 3389).unwrap().unwrap().host, "srv");
    before.assert_unchanged(&outside_the_store(&scratch, &store));
}

#[test]
fn a_fifo_at_a_profile_is_refused_at_once_and_repaired() {
    let (scratch, store) = setup("profile-fifo");
    save(&store).unwrap();
    let path = store.path_for("srv", 3389).unwrap();
    fs::remove_file(&path).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap()
        .success());
    let before = outside_the_store(&scratch, &store);

    let started = Instant::now();
    match store.load("srv", 3389) {
        Err(StoreError::File(FileError::NotAFile {
            kind: FileKind::Fifo,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    assert!(save(&store).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a FIFO with no writer blocked the store"
    );
    assert!(matches!(
        store.repair("srv", 3389).unwrap().outcome,
        RepairOutcome::Repaired { .. }
    ));
    assert!(store.load("srv", 3389).unwrap().is_some());
    before.assert_unchanged(&outside_the_store(&scratch, &store));
}

#[test]
fn the_configuration_root_may_be_a_link_the_user_made() {
    // `~/.config/rdpshim -> ~/dotfiles/rdpshim` is the user's choice: followed.
    let (scratch, _) = setup("root-link");
    let real = scratch.0.join("dotfiles");
    fs::create_dir(&real).unwrap();
    symlink(&real, scratch.0.join("config-link")).unwrap();
    let store = ProfileStore::open(scratch.0.join("config-link"));
    save(&store).unwrap();
    assert!(Path::new(&real.join("profiles/srv_3389.toml")).is_file());
}
