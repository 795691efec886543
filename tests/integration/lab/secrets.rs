//! The password never appears in argv, logs (`-vv` included), JSON or files.

use crate::common::{files_containing, run, RDPSHIM};

#[test]
fn password_is_never_printed_logged_or_written() {
    let server = lab!("shadow-nla");
    let work = tempdir(&server);
    let png = work.join("frame.png");
    let target = server.addr();

    for (password, source) in [
        (server.password.clone(), "stdin"),
        ("Wrong-But-Secret-77".to_owned(), "env"),
    ] {
        let mut command = std::process::Command::new(RDPSHIM);
        command
            .current_dir(&work)
            .env("HOME", &work)
            .env("XDG_CONFIG_HOME", work.join("config"))
            .env("RDPSHIM_CONFIG_DIR", work.join("rdpshim-config"))
            .env("RDPSHIM_NO_KEYRING", "1")
            .args([
                "-vv",
                "connect",
                &target,
                "--no-fallback",
                "--json",
                "-u",
                &server.user,
            ])
            .args(["--screenshot", png.to_str().unwrap()]);
        let stdin = if source == "stdin" {
            command.arg("--password-stdin");
            Some(format!("{password}\n"))
        } else {
            None
        };
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            !args.iter().any(|a| a.contains(&password)),
            "password in argv"
        );
        command
            .env_remove("RUST_LOG")
            .env_remove("RDPSHIM_PASSWORD");
        if source == "env" {
            command.env("RDPSHIM_PASSWORD", &password);
        }
        let output = run(command, stdin.as_deref());
        assert!(
            output.stderr.contains("DEBUG") || output.stderr.contains("TRACE"),
            "-vv must actually log something for this test to mean anything:\n{}",
            output.stderr
        );
        assert!(
            !output.stdout.contains(&password),
            "password in stdout/JSON ({source})"
        );
        assert!(
            !output.stderr.contains(&password),
            "password in the -vv log ({source})"
        );
        let leaked = files_containing(&work, &password);
        assert!(leaked.is_empty(), "password written to files: {leaked:?}");
    }
    assert!(
        png.exists(),
        "the good-password run saved its screenshot (so the run was real)"
    );
}

fn tempdir(server: &crate::common::LabServer) -> std::path::PathBuf {
    let dir = server.dir().join("client-home");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
