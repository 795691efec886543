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

/// The bridge holds the password for the whole session and checks a client's with it:
/// still nowhere in argv, its `-vv` log, its JSON Lines, its certificate files or the
/// `.rdp` file it writes. A client (rdpshim itself, NLA with HYBRID_EX) gets through.
#[test]
fn the_bridge_never_prints_logs_or_writes_the_password() {
    let server = lab!("shadow-nla");
    let work = tempdir(&server);
    let config = work.join("rdpshim-config");
    let rdp = work.join("bridge.rdp");
    let mut command = std::process::Command::new(RDPSHIM);
    command
        .current_dir(&work)
        .env("HOME", &work)
        .env("RDPSHIM_CONFIG_DIR", &config)
        .env("RDPSHIM_NO_KEYRING", "1")
        .env_remove("RUST_LOG")
        .env_remove("RDPSHIM_PASSWORD")
        .args(["-vv", "bridge", &server.addr(), "--json", "--once"])
        .args(["-u", &server.user, "--password-stdin"])
        .args(["--rdp", rdp.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        // A file, not a pipe: -vv writes more than a pipe holds while stdout is read.
        .stderr(std::fs::File::create(server.dir().join("bridge-vv.log")).unwrap());
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(!args.iter().any(|a| a.contains(&server.password)));
    let mut bridge = command.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = bridge.stdin.take().unwrap();
        stdin
            .write_all(format!("{}\n", server.password).as_bytes())
            .unwrap();
    }
    let stdout = bridge.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut seen = String::new();
    let listen = loop {
        let line = lines
            .next()
            .expect("the bridge printed its ready event")
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        if value["event"] == "ready" {
            break value["listen"].as_str().unwrap().to_owned();
        }
    };

    let client = std::process::Command::new(RDPSHIM)
        .args(["connect", &listen, "--no-fallback", "--json", "--no-save"])
        .args(["-u", &server.user])
        .env("RDPSHIM_CONFIG_DIR", work.join("client-config"))
        .env("RDPSHIM_NO_KEYRING", "1")
        .env("RDPSHIM_PASSWORD", &server.password)
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "NLA through the bridge: {}",
        String::from_utf8_lossy(&client.stdout)
    );

    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = bridge.wait().unwrap();
    let stderr = std::fs::read_to_string(server.dir().join("bridge-vv.log")).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("DEBUG") || stderr.contains("TRACE"),
        "-vv logs"
    );
    assert!(
        seen.contains("\"carried\""),
        "the session was carried: {seen}"
    );
    assert!(
        !seen.contains(&server.password),
        "password in the JSON Lines"
    );
    assert!(
        !stderr.contains(&server.password),
        "password in the -vv log"
    );
    let leaked = files_containing(&work, &server.password);
    assert!(leaked.is_empty(), "password written to files: {leaked:?}");
    assert!(
        config.join("bridge").join("key.pem").exists() && rdp.exists(),
        "the files checked exist"
    );
}
