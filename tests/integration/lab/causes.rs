//! One truth about a server: for every lab server, the causes `diagnose` finds, what
//! `connect`'s ladder does (the fallbacks that got it through, or the causes its verdict
//! names) and the cause of every failed matrix cell agree, all read from the one table of
//! causes; healthy servers have no blocking cause (diagnose exits 0), the others the right
//! one.
//!
//! Agreement, checked on every row besides the row's exact expectations:
//! - every cause `connect`'s verdict names is one `diagnose` found (diagnose sees at least
//!   what the attempts prove), and a failed ladder names one of diagnose's blocking causes;
//! - a ladder that connects took exactly the fallbacks that work around the causes
//!   diagnose found (`nla-off` for `nla-refused`, `tls-version-downgrade` for
//!   `tls-version`, ...), and a server with a blocking cause no fallback works around does
//!   not connect;
//! - every failed matrix cell that points to a cause points to one diagnose found, and some
//!   cell connects exactly when the ladder does.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::common::{rdpshim, run, LabServer, RDPSHIM};

/// What `connect` (the ladder, no knobs) does on a server.
enum Ladder {
    /// Connects with these fallbacks.
    Connects(&'static [&'static str]),
    /// Ends with a verdict naming these causes, blocking first.
    Fails(&'static [&'static str]),
}

struct Row {
    kind: &'static str,
    /// Every cause `diagnose` finds, in table order.
    found: &'static [&'static str],
    /// `diagnose`'s exit code: 0 no blocking cause, 4 a blocking cause, 5 not reached.
    exit: i32,
    ladder: Ladder,
}

const LAB_USER: &str = "labuser";
const LAB_PASSWORD: &str = "Lab-Passw0rd!";

/// Rows in the order of `lab.sh kinds`.
const ROWS: &[Row] = &[
    Row {
        kind: "xrdp-modern",
        found: &[
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        exit: 0,
        ladder: Ladder::Connects(&["nla-off"]),
    },
    Row {
        kind: "xrdp-tls10",
        found: &["tls-version", "nla-refused", "certificate-self-signed"],
        exit: 4,
        ladder: Ladder::Connects(&["nla-off", "tls-version-downgrade"]),
    },
    Row {
        kind: "xrdp-aes128sha",
        found: &["cipher", "nla-refused", "certificate-self-signed"],
        exit: 4,
        ladder: Ladder::Connects(&["nla-off", "cipher-downgrade"]),
    },
    Row {
        kind: "xrdp-expired",
        found: &[
            "nla-refused",
            "certificate-expired",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        exit: 0,
        ladder: Ladder::Connects(&["nla-off"]),
    },
    Row {
        kind: "xrdp-rdp-only",
        found: &["rdp-security-only", "nla-refused"],
        exit: 4,
        ladder: Ladder::Fails(&["rdp-security-only", "nla-refused"]),
    },
    Row {
        // FreeRDP's NTLM (WinPR) says it is Windows 6.1.7601: the BlueKeep estimate reads
        // the version the server claims, and says it is an estimate.
        kind: "shadow-nla",
        found: &[
            "nla-required",
            "certificate-name",
            "certificate-self-signed",
            "no-forward-secrecy",
            "bluekeep",
        ],
        exit: 0,
        ladder: Ladder::Connects(&[]),
    },
    Row {
        kind: "shadow-tls",
        found: &[
            "nla-refused",
            "certificate-name",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        exit: 0,
        ladder: Ladder::Connects(&["nla-off"]),
    },
    Row {
        kind: "closer",
        found: &["closed-before-tls"],
        exit: 4,
        ladder: Ladder::Fails(&["closed-before-tls"]),
    },
    Row {
        kind: "staller",
        found: &["not-answering"],
        exit: 4,
        ladder: Ladder::Fails(&["not-answering"]),
    },
    Row {
        kind: "staller-tls",
        found: &["not-answering", "nla-refused"],
        exit: 4,
        ladder: Ladder::Fails(&["not-answering", "nla-refused"]),
    },
    Row {
        kind: "ipv6-first",
        found: &[
            "name-resolution",
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        exit: 4,
        // The first attempt races the name's addresses (Happy Eyeballs): no fallback needed.
        ladder: Ladder::Connects(&["nla-off"]),
    },
    Row {
        kind: "netns-drop",
        found: &["port-filtered"],
        exit: 5,
        ladder: Ladder::Fails(&["port-filtered"]),
    },
    Row {
        kind: "netns-reject",
        found: &["port-refused"],
        exit: 5,
        ladder: Ladder::Fails(&["port-refused"]),
    },
    Row {
        kind: "win-reset",
        found: &["closed-during-tls"],
        exit: 4,
        ladder: Ladder::Fails(&["closed-during-tls"]),
    },
    Row {
        kind: "win-reset-ssl",
        found: &["closed-during-tls", "nla-refused"],
        exit: 4,
        ladder: Ladder::Fails(&["closed-during-tls", "nla-refused"]),
    },
    Row {
        kind: "http",
        found: &["not-rdp"],
        exit: 4,
        ladder: Ladder::Fails(&["not-rdp"]),
    },
    Row {
        // An OpenSSL server closes on the X.224 request without an alert: the ladder sees
        // a close; diagnose's handshake without X.224 shows the port speaks TLS.
        kind: "tls-plain",
        found: &["not-rdp", "closed-before-tls"],
        exit: 4,
        ladder: Ladder::Fails(&["closed-before-tls"]),
    },
    Row {
        kind: "xrdp-negotiate",
        found: &[
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
            "rdp-security-offered",
        ],
        exit: 0,
        ladder: Ladder::Connects(&["nla-off"]),
    },
    Row {
        kind: "xrdp-rdp-low",
        found: &["rdp-security-only", "nla-refused"],
        exit: 4,
        ladder: Ladder::Fails(&["rdp-security-only", "nla-refused"]),
    },
    Row {
        kind: "xrdp-rdp-fips",
        found: &["rdp-security-only", "nla-refused"],
        exit: 4,
        ladder: Ladder::Fails(&["rdp-security-only", "nla-refused"]),
    },
    Row {
        // Selects TLS when asked for NLA only: the ladder follows it there.
        kind: "selects-tls",
        found: &[
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        exit: 0,
        ladder: Ladder::Connects(&["nla-off"]),
    },
];

/// The blocking causes, from the table itself (`rdpshim_planner::causes`).
fn is_blocking(id: &str) -> bool {
    rdpshim_planner::CauseId::parse(id)
        .unwrap_or_else(|| panic!("`{id}` is not a cause in the table"))
        .severity()
        == rdpshim_planner::Severity::Blocking
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn check(kind: &str) {
    let row = ROWS
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no row for {kind}"));
    let server = LabServer::start(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let target = server.dial_addr();

    // diagnose: exactly the row's causes, exit 4 exactly for a blocking one.
    let diagnosed = rdpshim(
        &server,
        &["diagnose", &target, "--json", "--timeout", "3"],
        None,
    );
    let json = diagnosed.json();
    let found = strings(&json["found"]);
    assert_eq!(
        found,
        row.found,
        "{kind}: diagnose found\n{}",
        serde_json::to_string_pretty(&json["verdicts"]).unwrap_or_default()
    );
    let blocking: Vec<String> = found.iter().filter(|c| is_blocking(c)).cloned().collect();
    assert_eq!(strings(&json["blocking"]), blocking, "{kind}");
    assert_eq!(diagnosed.code, row.exit, "{kind}: diagnose exit");
    if row.exit != 5 {
        assert_eq!(
            diagnosed.code == 4,
            !blocking.is_empty(),
            "{kind}: exit 4 exactly when a blocking cause is found"
        );
    }
    let found: BTreeSet<String> = found.into_iter().collect();

    // connect: the ladder with no knobs (credentials for the NLA server).
    let (login, password): (&[&str], _) = if server.user.is_empty() {
        (&[], None)
    } else {
        (
            &["-u", LAB_USER, "--password-stdin"],
            Some(format!("{LAB_PASSWORD}\n")),
        )
    };
    let mut args = vec![
        "connect",
        target.as_str(),
        "--json",
        "--no-save",
        "--timeout",
        "3",
    ];
    args.extend_from_slice(login);
    let connected = rdpshim(&server, &args, password.as_deref());
    let json = connected.json();
    let explain = || {
        format!(
            "{kind}: connect\nstdout: {}\nstderr: {}",
            connected.stdout, connected.stderr
        )
    };
    match row.ladder {
        Ladder::Connects(fallbacks) => {
            assert_eq!(connected.code, 0, "{}", explain());
            let taken = strings(&json["fallbacks"]);
            assert_eq!(taken, fallbacks, "{}", explain());
            // Exactly the fallbacks that work around what diagnose found.
            let worked_around: BTreeSet<String> = taken
                .iter()
                .map(|f| {
                    rdpshim_planner::CauseId::ALL
                        .into_iter()
                        .find(|c| c.info().workaround.is_some_and(|w| w.as_str() == f))
                        .unwrap_or_else(|| panic!("{kind}: `{f}` works around no cause"))
                        .as_str()
                        .to_owned()
                })
                .collect();
            // A by-name dial that raced the name's addresses worked around a dead first
            // address within the attempt (Happy Eyeballs), not with `ip-for-hostname`.
            let raced = json["attempts"]
                .as_array()
                .and_then(|a| a.last())
                .is_some_and(|a| a["raced"].as_array().is_some_and(|r| !r.is_empty()));
            let needing: BTreeSet<String> = found
                .iter()
                .filter(|c| {
                    rdpshim_planner::CauseId::parse(c)
                        .is_some_and(|id| id.info().workaround.is_some())
                })
                .filter(|c| !(raced && c.as_str() == "name-resolution"))
                .cloned()
                .collect();
            assert_eq!(worked_around, needing, "{kind}: fallbacks vs causes found");
            for cause in &found {
                let id =
                    rdpshim_planner::CauseId::parse(cause).unwrap_or_else(|| panic!("{cause}"));
                assert!(
                    !is_blocking(cause) || id.info().workaround.is_some(),
                    "{kind}: connected past blocking `{cause}`, which no fallback works around"
                );
            }
        }
        Ladder::Fails(causes) => {
            assert_ne!(connected.code, 0, "{}", explain());
            let named: Vec<String> = json["verdict"]["causes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            assert_eq!(named, causes, "{}", explain());
            for cause in json["verdict"]["causes"].as_array().into_iter().flatten() {
                let id = cause["id"].as_str().unwrap_or_default();
                assert!(
                    found.contains(id),
                    "{kind}: connect names `{id}`, diagnose does not"
                );
                let info = rdpshim_planner::CauseId::parse(id).unwrap().info();
                assert_eq!(cause["severity"], info.severity.as_str());
                assert_eq!(cause["remedy"]["server"], info.server, "the table's words");
                assert!(!cause["evidence"].as_str().unwrap_or("").is_empty());
            }
            assert!(
                named.iter().any(|c| is_blocking(c)),
                "{kind}: a failed ladder names a blocking cause: {named:?}"
            );
            assert!(
                connected.stderr.contains(&format!("cause {} (", causes[0])),
                "{kind}: the cause is printed for people:\n{}",
                connected.stderr
            );
        }
    }

    // matrix: every failed cell's cause is one diagnose found; a cell connects exactly
    // when the ladder does.
    let configs = server.dir().join("causes-configs.toml");
    std::fs::write(
        &configs,
        "[matrix]\nnla = [true, false]\ntls = [\"rustls-auto\", \"openssl-1.2\", \"openssl-1.0\"]\ndial = [\"ip\"]\nudp = [false]\n",
    )
    .unwrap();
    let mut matrix = Command::new(RDPSHIM);
    matrix
        .args(["matrix", &server.addr(), "--json", "--timeout", "2"])
        .arg("--configs")
        .arg(&configs)
        .env_remove("RUST_LOG")
        .env("RDPSHIM_NO_KEYRING", "1");
    if !server.user.is_empty() {
        matrix
            .args(["-u", LAB_USER])
            .env("RDPSHIM_PASSWORD", LAB_PASSWORD);
    } else {
        matrix.env_remove("RDPSHIM_PASSWORD");
    }
    let matrix = run(matrix, None);
    let json = matrix.json();
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 6, "{kind}: {json}");
    for cell in cells {
        if let Some(cause) = cell["cause"].as_str() {
            assert!(
                explained(&found, cause),
                "{kind}: matrix cell {} points to `{cause}`, diagnose does not find it: {cell}",
                cell["configuration"]
            );
        }
        if cell["outcome"] != "ok" && is_server_cause(cell) {
            assert!(
                cell["cause"].is_string(),
                "{kind}: a server failure without a cause: {cell}"
            );
        }
    }
    let any_ok = cells.iter().any(|c| c["outcome"] == "ok");
    assert_eq!(
        any_ok,
        matches!(row.ladder, Ladder::Connects(_)),
        "{kind}: some matrix cell connects exactly when the ladder does"
    );
}

/// Is a cell's cause one diagnose found? (Every request carries a routing cookie ending
/// in CR LF, as diagnose's do, so a web server answers each cell as it answers diagnose.)
fn explained(found: &BTreeSet<String>, cause: &str) -> bool {
    found.contains(cause)
}

/// A failure that is the server's rather than the cell's offer: anything at the TLS stage
/// on a cell offering only TLS 1.0 (the server is right to refuse it, with whatever alert:
/// FreeRDP sends internal_error) is the offer's, and so is a suite mismatch on OpenSSL's
/// legacy suites.
fn is_server_cause(cell: &Value) -> bool {
    let configuration = cell["configuration"].as_str().unwrap_or("");
    let offered_only_old = configuration.contains("openssl-1.0");
    match (
        cell["stage"].as_str().unwrap_or(""),
        cell["outcome"].as_str().unwrap_or(""),
    ) {
        ("tls", _) if offered_only_old => false,
        (_, "tls-cipher-mismatch") => configuration.contains("rustls"),
        _ => true,
    }
}

macro_rules! rows {
    ($($name:ident => $kind:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                require_lab!();
                check($kind);
            }
        )*

        /// Every lab kind has a row, and every row a test.
        #[test]
        fn every_lab_server_has_a_row() {
            let tested: Vec<&str> = vec![$($kind),*];
            let rows: Vec<&str> = ROWS.iter().map(|r| r.kind).collect();
            assert_eq!(rows, rdpshim_lab::KINDS, "rows in the order of lab.sh kinds");
            assert_eq!(tested, rows);
        }
    };
}

for_each_lab_kind!(rows);
