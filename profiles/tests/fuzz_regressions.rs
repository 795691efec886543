//! Every input that once broke an invariant (found by `fuzz/` or `fuzz_stable.rs`) stays
//! here as a test: `tests/fuzz_regressions/rdpfile/*` and `tests/fuzz_regressions/profile/*`.
//! The seed corpus (`tests/fuzz_corpus/`) runs too.

use std::path::Path;

use rdpshim_profiles::fuzzing::{check_profile_toml, check_rdpfile};

fn run_dir(dir: &Path, check: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_file() && !hidden && path.extension().is_none_or(|e| e != "md") {
            let bytes = std::fs::read(&path).unwrap();
            eprintln!("{}", path.display());
            check(&bytes);
            count += 1;
        }
    }
    count
}

#[test]
fn rdpfile_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let n = run_dir(&root.join("fuzz_regressions/rdpfile"), check_rdpfile)
        + run_dir(&root.join("fuzz_corpus/rdpfile"), check_rdpfile);
    assert!(n > 0);
}

#[test]
fn profile_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let n = run_dir(&root.join("fuzz_regressions/profile"), check_profile_toml)
        + run_dir(&root.join("fuzz_corpus/profile"), check_profile_toml);
    assert!(n > 0);
}
