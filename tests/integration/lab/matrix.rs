//! `rdpshim matrix` against real lab servers: a baseline, then servers reconfigured on the
//! same port, and the run must name exactly the cells that changed; JUnit read back by a
//! JUnit parser; a dead host dialled once (seen in the JSON, not in timings).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{LabServer, Run, RDPSHIM};
use serde_json::Value;

const PASSWORD_ENV: &str = "RDPSHIM_PASSWORD";
/// shadow-nla's SAM user (`lab.sh`: LAB_USER / LAB_PASSWORD). Needed before any shadow-nla
/// runs (the baseline is taken against shadow-tls); checked against the server afterwards.
const LAB_USER: &str = "labuser";
const LAB_PASSWORD: &str = "Lab-Passw0rd!";

/// A private directory for one test's files, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("rdpshim-matrix-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn matrix(args: &[&str], password: Option<&str>) -> Run {
    let mut command = Command::new(RDPSHIM);
    command
        .arg("matrix")
        .args(args)
        .env_remove(PASSWORD_ENV)
        .env_remove("RUST_LOG")
        .env("RDPSHIM_NO_KEYRING", "1");
    if let Some(password) = password {
        command.env(PASSWORD_ENV, password);
    }
    crate::common::run(command, None)
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `localhost:PORT`, so by-name (name `localhost`) and by-IP (name `127.0.0.1`) differ.
fn by_name(server: &LabServer) -> String {
    format!("localhost:{}", server.port)
}

/// Every configuration id of the default matrix whose parts match the patterns (`*` = any).
fn ids(nla: &str, tls: &[&str], dial: &str, udp: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in ["nla", "no-nla"]
        .iter()
        .filter(|n| nla == "*" || nla == **n)
    {
        for t in tls {
            for d in ["name", "ip"].iter().filter(|d| dial == "*" || dial == **d) {
                for u in ["udp", "no-udp"]
                    .iter()
                    .filter(|u| udp == "*" || udp == **u)
                {
                    out.insert(format!("{n}/{t}/{d}/{u}"));
                }
            }
        }
    }
    out
}

/// The (host, configuration) pairs of the JSON comparison's changes of `kind`.
fn changes(json: &Value, kind: &str) -> BTreeSet<(String, String)> {
    json["comparison"]["changes"]
        .as_array()
        .expect("comparison.changes")
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| {
            (
                c["host"].as_str().unwrap().to_owned(),
                c["configuration"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn on(host: &str, ids: BTreeSet<String>) -> BTreeSet<(String, String)> {
    ids.into_iter().map(|id| (host.to_owned(), id)).collect()
}

fn cell<'a>(json: &'a Value, host: &str, configuration: &str) -> &'a Value {
    json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["host"] == host && c["configuration"] == configuration)
        .unwrap_or_else(|| panic!("no cell {host} {configuration}"))
}

const ACCEPTED_BY_MODERN: [&str; 3] = ["rustls-auto", "rustls-1.2", "openssl-1.2"];
const OLD_TLS: [&str; 2] = ["openssl-1.1", "openssl-1.0"];

/// TLS 1.0 turned off on one server (xrdp-tls10 -> xrdp-modern on its port) and NLA turned
/// on on another (shadow-tls -> shadow-nla), a third left alone: the comparison names
/// exactly the cells those changes explain, the run exits 8, and the JUnit file (read by a
/// JUnit parser) fails exactly the regressed testcases.
#[test]
fn reconfigured_servers_regress_exactly_the_cells_they_should() {
    let scratch = Scratch::new("reconfigure");
    let tls10 = lab!("xrdp-tls10");
    let shadow = lab!("shadow-tls");
    let control = lab!("xrdp-aes128sha");
    let password = LAB_PASSWORD.to_owned();
    let (a, b, c) = (by_name(&tls10), shadow.addr(), by_name(&control));
    let baseline = scratch.path("baseline.json");
    let first_junit = scratch.path("first.xml");

    let first = matrix(
        &[
            &a,
            &b,
            &c,
            "-u",
            LAB_USER,
            "--save-baseline",
            path_arg(&baseline),
            "--junit",
            path_arg(&first_junit),
            "--json",
        ],
        Some(&password),
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = first.json();
    // The baseline is what the servers are: TLS 1.0 only; TLS only (both shadows offer TLS
    // 1.2 and no older version); CBC only at TLS 1.2.
    assert_eq!(
        cell(&before, &a, "no-nla/openssl-1.0/ip/udp")["outcome"],
        "ok"
    );
    assert_eq!(
        cell(&before, &a, "no-nla/rustls-auto/name/udp")["outcome"],
        "tls-version-mismatch"
    );
    assert_eq!(
        cell(&before, &b, "no-nla/rustls-auto/name/udp")["outcome"],
        "ok"
    );
    assert_eq!(
        cell(&before, &b, "nla/rustls-auto/name/udp")["code"],
        "SSL_REQUIRED_BY_SERVER"
    );
    assert_eq!(
        cell(&before, &c, "no-nla/openssl-1.2/name/no-udp")["outcome"],
        "ok"
    );
    assert_eq!(
        cell(&before, &a, "no-nla/openssl-1.0/ip/udp")["server_name"],
        "127.0.0.1"
    );
    assert_eq!(
        cell(&before, &a, "no-nla/openssl-1.0/name/udp")["server_name"],
        "localhost"
    );
    let not_ok_first = before["summary"]["not_ok"].as_u64().unwrap();
    assert_junit(
        &first_junit,
        &[(&a, 40), (&b, 40), (&c, 40)],
        not_ok_first as usize,
    );

    let tls10 = tls10
        .replace("xrdp-modern")
        .expect("xrdp-modern on xrdp-tls10's port");
    let shadow = shadow
        .replace("shadow-nla")
        .expect("shadow-nla on shadow-tls's port");
    assert_eq!((by_name(&tls10), shadow.addr()), (a.clone(), b.clone()));
    assert_eq!(
        (shadow.user.as_str(), shadow.password.as_str()),
        (LAB_USER, LAB_PASSWORD)
    );
    let second_junit = scratch.path("second.xml");
    let second = matrix(
        &[
            &a,
            &b,
            &c,
            "-u",
            LAB_USER,
            "--baseline",
            path_arg(&baseline),
            "--junit",
            path_arg(&second_junit),
            "--json",
        ],
        Some(&password),
    );
    assert_eq!(second.code, 8, "a regression exits 8\n{}", second.stderr);
    let after = second.json();

    // TLS 1.0 off: the TLS 1.0 cells regress, the modern rungs now work, NLA still refused.
    // NLA on: TLS-only cells regress (HYBRID_REQUIRED_BY_SERVER), NLA cells with the lab
    // credentials now work on the rungs the server speaks.
    let regressions: BTreeSet<_> = on(&a, ids("no-nla", &["openssl-1.0"], "*", "*"))
        .into_iter()
        .chain(on(&b, ids("no-nla", &ACCEPTED_BY_MODERN, "*", "*")))
        .collect();
    let improvements: BTreeSet<_> = on(&a, ids("no-nla", &ACCEPTED_BY_MODERN, "*", "*"))
        .into_iter()
        .chain(on(&b, ids("nla", &ACCEPTED_BY_MODERN, "*", "*")))
        .collect();
    // Failures that stay failures but for another reason: shadow-nla refuses TLS-only
    // requests at X.224 before TLS 1.1/1.0 are tried, and answers NLA with TLS 1.1/1.0 with
    // an alert where shadow-tls answered SSL_REQUIRED_BY_SERVER.
    let changed: BTreeSet<_> = on(&b, ids("*", &OLD_TLS, "*", "*"));
    assert_eq!(
        changes(&after, "regression"),
        regressions,
        "{}",
        second.stderr
    );
    assert_eq!(
        changes(&after, "improvement"),
        improvements,
        "{}",
        second.stderr
    );
    assert_eq!(changes(&after, "changed"), changed, "{}", second.stderr);
    assert!(changes(&after, "new").is_empty() && changes(&after, "missing").is_empty());
    assert!(
        !after["comparison"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch["host"] == c),
        "the untouched server changed:\n{}",
        second.stderr
    );
    assert_eq!(after["comparison"]["regressions"], 16);
    assert_eq!(
        cell(&after, &b, "no-nla/rustls-auto/ip/udp")["result"],
        "negotiation-failure (HYBRID_REQUIRED_BY_SERVER)"
    );
    // The people's view (stderr with --json) names the same regressed cells, one per line.
    let printed: BTreeSet<(String, String)> = second
        .stderr
        .lines()
        .filter(|l| l.starts_with("regression "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_owned(), f[2].to_owned())
        })
        .collect();
    assert_eq!(printed, regressions, "{}", second.stderr);

    // JUnit with a baseline: only the regressions fail, per host.
    let suites = assert_junit(&second_junit, &[(&a, 40), (&b, 40), (&c, 40)], 16);
    let failed: BTreeSet<(String, String)> = suites
        .iter()
        .flat_map(|s| {
            s.cases
                .iter()
                .filter(|t| t.status.is_failure())
                .map(|t| (s.name.clone(), t.original_name.clone()))
        })
        .collect();
    assert_eq!(failed, regressions);

    // Nothing the run wrote or printed holds the password.
    for text in [&first.stdout, &first.stderr, &second.stdout, &second.stderr] {
        assert!(!text.contains(&password));
    }
    for file in [&baseline, &first_junit, &second_junit] {
        assert!(!std::fs::read_to_string(file).unwrap().contains(&password));
    }
    drop((tls10, shadow, control));
}

/// Parses `path` with junit-parser and checks the suites (name, testcase count) and the
/// total failures. Returns the suites for further checks.
fn assert_junit(
    path: &Path,
    suites: &[(&str, u64)],
    failures: usize,
) -> Vec<junit_parser::TestSuite> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed = junit_parser::from_reader(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{} is not JUnit XML: {e}", path.display()));
    let got: Vec<(String, u64)> = parsed
        .suites
        .iter()
        .map(|s| (s.name.clone(), s.cases.len() as u64))
        .collect();
    let want: Vec<(String, u64)> = suites.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect();
    assert_eq!(got, want, "{}", path.display());
    assert_eq!(parsed.tests, suites.iter().map(|s| s.1).sum::<u64>());
    assert_eq!(parsed.failures as usize, failures, "{}", path.display());
    let counted: usize = parsed
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|t| t.status.is_failure())
        .count();
    assert_eq!(counted, failures);
    for suite in &parsed.suites {
        for case in &suite.cases {
            assert_eq!(case.classname.as_deref(), Some(suite.name.as_str()));
        }
    }
    parsed.suites
}

/// A host behind iptables DROP costs one TCP timeout: its first cell is dialled, the other
/// 39 are recorded as not dialled with the same class. Likewise a refused port, and a name
/// that does not resolve is never dialled at all.
#[test]
fn dead_hosts_are_dialled_once_and_unresolvable_ones_never() {
    let drop = lab!("netns-drop");
    let refused = rdpshim_lab::PortLease::allocate().expect("a free port");
    let refused_target = format!("127.0.0.1:{}", refused.port);
    let unresolvable = "rdpshim-matrix-test.invalid";
    let alive = lab!("xrdp-modern");
    let alive_target = alive.addr();
    let run = matrix(
        &[
            &drop.addr(),
            &refused_target,
            unresolvable,
            &alive_target,
            "--timeout",
            "1",
            "--json",
        ],
        None,
    );
    assert_eq!(
        run.code, 0,
        "without --baseline failing cells are results\n{}",
        run.stderr
    );
    let json = run.json();
    let cells = |host: &str| -> Vec<Value> {
        json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["host"] == host)
            .cloned()
            .collect()
    };
    for (host, class) in [
        (drop.addr(), "tcp-timeout"),
        (refused_target.clone(), "tcp-refused"),
    ] {
        let row = cells(&host);
        assert_eq!(row.len(), 40);
        assert_eq!(row[0]["dialled"], true, "{host}");
        assert_eq!(row[0]["outcome"], class, "{host}");
        assert!(
            row[1..]
                .iter()
                .all(|c| c["dialled"] == false && c["outcome"] == class),
            "{host}: {row:?}"
        );
        assert!(row[1].as_object().unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("not dialled"));
        let summary = json["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["label"] == host.as_str())
            .unwrap();
        assert_eq!(summary["unreachable"], true);
    }
    let label = format!("{unresolvable}:3389");
    let row = cells(&label);
    assert!(
        row.iter()
            .all(|c| c["dialled"] == false && c["outcome"] == "dns"),
        "{row:?}"
    );
    assert!(row
        .iter()
        .filter(|c| c["configuration"].as_str().unwrap().contains("/ip/"))
        .all(|c| c["detail"]
            .as_str()
            .unwrap()
            .contains("no address to dial by IP")));
    let alive_row = cells(&alive_target);
    assert!(alive_row.iter().all(|c| c["dialled"] == true));
    assert_eq!(
        alive_row.iter().filter(|c| c["outcome"] == "ok").count(),
        12
    );
    assert_eq!(json["summary"]["not_dialled"], 39 + 39 + 40);
}

/// A configs file narrows the matrix and adds a named configuration with a pinned suite.
#[test]
fn a_configs_file_narrows_and_extends_the_matrix() {
    let scratch = Scratch::new("configs");
    let server = lab!("xrdp-aes128sha");
    let configs = scratch.path("configs.toml");
    std::fs::write(
        &configs,
        "[matrix]\nnla = [false]\ntls = [\"rustls-auto\", \"openssl-1.2\"]\ndial = [\"ip\"]\nudp = [false]\n\n\
         [[config]]\nid = \"cbc-pinned\"\nnla = false\ntls = \"openssl-1.2\"\nciphers = \"AES128-SHA\"\n\n\
         [[config]]\nid = \"gcm-pinned\"\nnla = false\ntls = \"openssl-1.2\"\nciphers = \"ECDHE-RSA-AES256-GCM-SHA384\"\n",
    )
    .unwrap();
    let run = matrix(
        &[&server.addr(), "--configs", path_arg(&configs), "--json"],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    let outcomes: Vec<(String, String)> = json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["configuration"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(
        outcomes[0],
        (
            "no-nla/rustls-auto/ip/no-udp".into(),
            "tls-cipher-mismatch".into()
        )
    );
    assert_eq!(
        outcomes[1],
        ("no-nla/openssl-1.2/ip/no-udp".into(), "ok".into())
    );
    assert_eq!(outcomes[2], ("cbc-pinned".into(), "ok".into()));
    assert_eq!(outcomes[3].0, "gcm-pinned");
    assert_ne!(outcomes[3].1, "ok");
    assert_eq!(json["configurations"][2]["ciphers"], "AES128-SHA");
}

/// Bad input is a usage error before anything is dialled, and a file that is not a baseline
/// is never overwritten.
#[test]
fn bad_files_are_refused_before_any_cell_runs() {
    let scratch = Scratch::new("usage");
    let not_baseline = scratch.path("notes.txt");
    std::fs::write(&not_baseline, "my notes\n").unwrap();
    // Port 9 on 127.0.0.1: nothing must be dialled, so nothing needs to listen.
    let host = "127.0.0.1:9";

    let run = matrix(&[host, "--save-baseline", path_arg(&not_baseline)], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not overwriting"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&not_baseline).unwrap(),
        "my notes\n"
    );

    let run = matrix(&[host, "--baseline", path_arg(&not_baseline)], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not an rdpshim matrix baseline"),
        "{}",
        run.stderr
    );

    let configs = scratch.path("bad.toml");
    std::fs::write(&configs, "[matrix]\ntls = [\"rustls-auto\", \"tls-1.0\"]\n").unwrap();
    let run = matrix(&[host, "--configs", path_arg(&configs)], None);
    assert_eq!(run.code, 2);
    let where_ = format!("{}:2:", configs.display());
    assert!(
        run.stderr.contains(&where_) && run.stderr.contains("tls-1.0"),
        "{}",
        run.stderr
    );

    let hosts = scratch.path("hosts.txt");
    std::fs::write(&hosts, "# lab\nsrv1\nsrv2:70000\n").unwrap();
    let run = matrix(&["--hosts-file", path_arg(&hosts)], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("{}:3:", hosts.display())),
        "{}",
        run.stderr
    );

    let run = matrix(&[], None);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no hosts"), "{}", run.stderr);

    let run = matrix(&["--list-configs"], None);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout.lines().count(), 40);
    assert!(
        run.stdout.starts_with("nla/rustls-auto/name/udp "),
        "{}",
        run.stdout
    );
}

/// Without `--baseline`, a matrix in which not one cell connected is a failure (exit 4),
/// not a table of results; with a baseline that expected it, it is not.
#[test]
fn a_matrix_where_nothing_connected_exits_4() {
    require_lab!();
    let scratch = Scratch::new("nothing");
    let refused = rdpshim_lab::PortLease::allocate().expect("a free port");
    let target = format!("127.0.0.1:{}", refused.port);
    let baseline = scratch.path("baseline.json");
    let run = matrix(
        &[
            &target,
            "--timeout",
            "1",
            "--save-baseline",
            path_arg(&baseline),
        ],
        None,
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.contains("0 ok"), "{}", run.stdout);
    let again = matrix(
        &[&target, "--timeout", "1", "--baseline", path_arg(&baseline)],
        None,
    );
    assert_eq!(again.code, 0, "as the baseline expected\n{}", again.stderr);
}

/// The cells of a `--json` run: (host, configuration) -> (result, stage, dialled).
fn cells_of(json: &Value) -> std::collections::BTreeMap<(String, String), (String, String, bool)> {
    json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["host"].as_str().unwrap().to_owned(),
                    c["configuration"].as_str().unwrap().to_owned(),
                ),
                (
                    c["result"].as_str().unwrap().to_owned(),
                    c["stage"].as_str().unwrap().to_owned(),
                    c["dialled"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

/// JUnit read back: (suite, case) -> failed?, in file order.
fn junit_cases(path: &Path) -> Vec<(String, String, bool)> {
    let file = std::fs::File::open(path).unwrap();
    let suites = junit_parser::from_reader(std::io::BufReader::new(file)).expect("JUnit XML");
    suites
        .suites
        .iter()
        .flat_map(|s| {
            s.cases
                .iter()
                .map(|c| (s.name.clone(), c.name.clone(), c.status.is_failure()))
        })
        .collect()
}

/// Three shards (`--shard K/3`), merged, give what one run gives: the same cells and
/// outcomes, a byte-identical baseline, the same JUnit suites, cases and failures. A dead
/// host in one shard is still dialled once.
#[test]
fn shards_merged_equal_one_run() {
    let servers = [
        lab!("xrdp-modern"),
        lab!("xrdp-tls10"),
        lab!("xrdp-aes128sha"),
        lab!("shadow-tls"),
    ];
    let scratch = Scratch::new("shards");
    let refused = rdpshim_lab::PortLease::allocate().expect("a free port");
    let mut hosts: Vec<String> = servers.iter().map(by_name).collect();
    hosts.insert(2, format!("127.0.0.1:{}", refused.port));
    let hosts_file = scratch.path("hosts.txt");
    std::fs::write(&hosts_file, hosts.join("\n") + "\n").unwrap();
    let configs = scratch.path("configs.toml");
    std::fs::write(&configs, "[matrix]\nnla = [false]\nudp = [false]\n").unwrap();
    let common = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--hosts-file",
            path_arg(&hosts_file),
            "--configs",
            path_arg(&configs),
            "--timeout",
            "2",
            "--json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let run_with = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        matrix(&refs, None)
    };

    let (one_baseline, one_junit) = (scratch.path("one.json"), scratch.path("one.xml"));
    let one = run_with(common(&[
        "--save-baseline",
        path_arg(&one_baseline),
        "--junit",
        path_arg(&one_junit),
    ]));
    assert_eq!(one.code, 0, "{}", one.stderr);

    let mut shard_files = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = run_with(common(&["--shard", &shard]));
        // Shard 3 holds only the refused host: not one of its cells connected.
        let expected = if k == 3 { 4 } else { 0 };
        assert_eq!(out.code, expected, "shard {shard}: {}", out.stderr);
        let json = out.json();
        assert_eq!(json["shard"]["index"], k);
        assert_eq!(json["shard"]["of_hosts"].as_array().unwrap().len(), 5);
        let file = scratch.path(&format!("shard-{k}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        shard_files.push(file);
    }
    // Round robin: shard 3 holds the refused host (position 2), dialled once.
    let third: Value =
        serde_json::from_str(&std::fs::read_to_string(&shard_files[2]).unwrap()).unwrap();
    let dialled: Vec<bool> = third["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["host"] == hosts[2].as_str())
        .map(|c| c["dialled"].as_bool().unwrap())
        .collect();
    assert_eq!(dialled.iter().filter(|d| **d).count(), 1, "{dialled:?}");

    let (merged_baseline, merged_junit) = (scratch.path("merged.json"), scratch.path("merged.xml"));
    let mut args = vec!["merge".to_owned()];
    // Given out of order.
    for file in shard_files.iter().rev() {
        args.push(path_arg(file).to_owned());
    }
    args.extend(
        [
            "--save-baseline",
            path_arg(&merged_baseline),
            "--junit",
            path_arg(&merged_junit),
            "--json",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    let merged = run_with(args);
    assert_eq!(merged.code, 0, "{}", merged.stderr);

    assert_eq!(cells_of(&merged.json()), cells_of(&one.json()));
    let hosts_of = |json: &Value| -> Vec<String> {
        json["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["label"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(hosts_of(&merged.json()), hosts, "the list's order");
    assert_eq!(
        std::fs::read_to_string(&merged_baseline).unwrap(),
        std::fs::read_to_string(&one_baseline).unwrap(),
        "the merged baseline is the one run's, byte for byte"
    );
    assert_eq!(junit_cases(&merged_junit), junit_cases(&one_junit));
    // The merge compares with a baseline as a run does.
    let compared = matrix(
        &[
            "merge",
            path_arg(&shard_files[0]),
            path_arg(&shard_files[1]),
            path_arg(&shard_files[2]),
            "--baseline",
            path_arg(&one_baseline),
            "--json",
        ],
        None,
    );
    assert_eq!(compared.code, 0, "{}", compared.stderr);
    assert_eq!(
        compared.json()["comparison"]["changes"],
        serde_json::json!([])
    );

    // A shard missing is refused (exit 2), and so is one given twice.
    let missing = matrix(
        &[
            "merge",
            path_arg(&shard_files[0]),
            path_arg(&shard_files[1]),
        ],
        None,
    );
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("shard 3/3 is missing"),
        "{}",
        missing.stderr
    );
    let twice = matrix(
        &[
            "merge",
            path_arg(&shard_files[0]),
            path_arg(&shard_files[0]),
            path_arg(&shard_files[2]),
        ],
        None,
    );
    assert_eq!(twice.code, 2, "{}", twice.stderr);
}
