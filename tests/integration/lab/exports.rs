//! Exports a real third-party client accepts: the .rdp file and the FreeRDP command line
//! written from a profile connect FreeRDP 2.11 (`xfreerdp +auth-only`, under Xvfb) to the
//! lab server the profile was made on. Imports round-trip.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use crate::common::{config_dir, files_containing, ladder, run, LabServer, Run, RDPSHIM};

/// xvfb-run -a picks a display by probing; serialize it within this test binary.
static XVFB: Mutex<()> = Mutex::new(());

/// Runs rdpshim with its profiles in `config`.
fn rdpshim(config: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(RDPSHIM);
    command
        .args(args)
        .env("RDPSHIM_CONFIG_DIR", config)
        .env("RDPSHIM_NO_KEYRING", "1");
    run(command, None)
}

/// `rdpshim profile export TARGET ARGS...` with the profiles in `config`; it must succeed.
fn export(config: &Path, target: &str, args: &[&str]) -> Run {
    let mut full = vec!["profile", "export", target];
    full.extend_from_slice(args);
    let out = rdpshim(config, &full);
    assert_eq!(out.code, 0, "export {args:?}: {}", out.stderr);
    out
}

/// Runs xfreerdp 2.11 with `args` under a private Xvfb and HOME; true when it exits 0.
/// (Also used by `gateway.rs`.)
pub(crate) fn xfreerdp(server: &LabServer, args: &[String]) -> (bool, String) {
    let _guard = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    let home = server.dir().join("xfreerdp-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new("xvfb-run")
        .arg("-a")
        .args(args)
        .env("HOME", &home)
        .output()
        .expect("xvfb-run (package xvfb)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

/// Connects with the ladder, then checks both exports with xfreerdp.
fn exports_connect(kind: &str) {
    let server = lab!(kind);
    let nla = !server.user.is_empty();
    let password_line = format!("{}\n", server.password);
    let run = if nla {
        ladder(
            &server,
            &["-u", &server.user, "--password-stdin"],
            Some(&password_line),
        )
    } else {
        ladder(&server, &[], None)
    };
    assert_eq!(
        run.code, 0,
        "{kind}: the ladder connects first:\n{}",
        run.stderr
    );
    let target = server.addr();
    // FreeRDP's +auth-only insists on credentials even for TLS-only logon.
    let (user, password) = if nla {
        (server.user.clone(), server.password.clone())
    } else {
        ("labuser".to_owned(), "not-needed".to_owned())
    };
    // FreeRDP 2 reads no TLS security level from .rdp files (mstsc needs none): the
    // FreeRDP command line export carries it, the .rdp test adds it by hand.
    let legacy_tls = kind == "xrdp-tls10";

    let rdp = server.dir().join("export.rdp");
    let config = config_dir(&server);
    export(
        &config,
        &target,
        &["--format", "rdp", "-o", rdp.to_str().unwrap()],
    );
    let bytes = std::fs::read(&rdp).unwrap();
    assert_eq!(
        &bytes[..2],
        &[0xff, 0xfe],
        "UTF-16LE with BOM, as mstsc writes"
    );
    let mut args: Vec<String> = vec![
        "xfreerdp".into(),
        rdp.display().to_string(),
        format!("/p:{password}"),
        "+auth-only".into(),
        "/cert:tofu".into(),
    ];
    if !nla {
        args.push(format!("/u:{user}"));
    }
    if legacy_tls {
        args.push("/tls-seclevel:0".into());
    }
    let (ok, log) = xfreerdp(&server, &args);
    assert!(
        ok,
        "{kind}: xfreerdp FILE.rdp did not connect:\n{log}\n{}",
        String::from_utf8_lossy(&bytes)
    );

    // No --freerdp-version: the line is written for the FreeRDP on PATH (2.11 here).
    let out = export(&config, &target, &["--format", "freerdp"]);
    let line = out.stdout.trim().to_owned();
    assert!(line.starts_with("xfreerdp "), "{line}");
    assert!(!line.contains("/tls:"), "FreeRDP 2 spellings: {line}");
    assert!(!line.contains("/p:"), "no password in the export: {line}");
    let mut shell_line = format!("{line} +auth-only '/p:{password}'");
    if !nla {
        shell_line.push_str(&format!(" /u:{user}"));
    }
    let (ok, log) = xfreerdp(&server, &["sh".into(), "-c".into(), shell_line.clone()]);
    assert!(
        ok,
        "{kind}: the FreeRDP command line did not connect: {shell_line}\n{log}"
    );

    if nla {
        let leaked = files_containing(&server.dir().join("rdpshim-config"), &server.password);
        assert!(leaked.is_empty(), "password in profile files: {leaked:?}");
        let leaked = files_containing(&rdp, &server.password);
        assert!(leaked.is_empty(), "password in the export");
    }
}

#[test]
fn modern_tls_exports_connect_xfreerdp() {
    exports_connect("xrdp-modern");
}

#[test]
fn tls10_exports_connect_xfreerdp() {
    exports_connect("xrdp-tls10");
}

#[test]
fn nla_exports_connect_xfreerdp() {
    exports_connect("shadow-nla");
}

#[test]
fn import_of_export_gives_the_same_settings() {
    let server = lab!("shadow-nla");
    let password_line = format!("{}\n", server.password);
    let connected = ladder(
        &server,
        &["-u", &server.user, "--password-stdin"],
        Some(&password_line),
    );
    assert_eq!(connected.code, 0, "{}", connected.stderr);
    let target = server.addr();
    let config = config_dir(&server);
    let shown = rdpshim(&config, &["profile", "show", &target, "--json"]);
    let before: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();

    for utf8 in [false, true] {
        let rdp = server.dir().join(format!("roundtrip-{utf8}.rdp"));
        let mut args = vec!["--format", "rdp", "-o", rdp.to_str().unwrap()];
        if utf8 {
            args.push("--utf8");
        }
        export(&config, &target, &args);

        // Import into an empty configuration.
        let fresh = server.dir().join(format!("fresh-{utf8}"));
        let out = rdpshim(&fresh, &["import", rdp.to_str().unwrap(), "--json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let after: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        for key in ["host", "port", "username", "domain"] {
            assert_eq!(after[key], before[key], "{key} (utf8={utf8})");
        }
        // Every setting the file carries comes back: exporting the import gives the same file.
        let again = server.dir().join(format!("again-{utf8}.rdp"));
        let host_port = format!("{}:{}", after["host"].as_str().unwrap(), after["port"]);
        let mut args = vec!["--format", "rdp", "-o", again.to_str().unwrap()];
        if utf8 {
            args.push("--utf8");
        }
        export(&fresh, &host_port, &args);
        assert_eq!(
            std::fs::read(&again).unwrap(),
            std::fs::read(&rdp).unwrap(),
            "export(import(export)) (utf8={utf8})"
        );
    }
}

#[test]
fn an_mstsc_written_file_imports() {
    let dir = std::env::temp_dir().join(format!("rdpshim-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "screen mode id:i:2\r\nfull address:s:srv.corp.example:3390\r\nusername:s:CORP\\alice\r\n\
                enablecredsspsupport:i:1\r\nauthentication level:i:2\r\npassword 51:b:01000000D08C9DDF\r\n\
                some future setting:s:kept\r\nthis line is broken\r\n";
    let mut bytes = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let file = dir.join("mstsc.rdp");
    std::fs::write(&file, &bytes).unwrap();

    let out = rdpshim(
        &dir.join("config"),
        &["import", file.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let profile: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(profile["host"], "srv.corp.example");
    assert_eq!(profile["port"], 3390);
    assert!(profile.to_string().contains("alice"));
    assert_eq!(
        profile["rdp_extra"]["some future setting"], "s:kept",
        "unknown properties kept"
    );
    assert!(
        out.stderr.contains("line 8"),
        "the bad line is reported with its number: {}",
        out.stderr
    );
    assert!(
        !profile.to_string().contains("D08C9DDF"),
        "the password blob is dropped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
