//! `rdpshim matrix merge SHARD.json...`: the shards' `--json` outputs read back and joined
//! into the [`MatrixRun`] one process would have made, so the table, the baseline, the JUnit
//! file and the comparison come from the same functions as a single run's (a merged
//! baseline is byte for byte the baseline of one run with the same outcomes).
//!
//! Shards must be the N parts of one list: the same N and the same host list in each
//! (`shard.of_hosts`), every index once, the same configurations, each host in the shard
//! that owns it. Anything else is refused ([`MergeError`]) rather than joined into a table
//! that looks complete and is not. One `--json` without `shard` (an unsharded run) merges
//! as 1/1.
//!
//! Timing is the exception: a merged run's `elapsed` is the longest shard's (the shards ran
//! side by side), cell times are as each shard measured them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::cell::Cell;
use super::config::{parse_tls_name, Configuration, DialBy};
use super::hosts::Target;
use super::runner::{HostRun, MatrixRun};
use super::shard::Shard;
use crate::attempt::{TlsStack, TlsVersion};
use crate::report::{Failure, FailureClass, NegotiationCode, Stage, TlsSession};

/// Why shards cannot be joined. `file` is the name the caller gave the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error(
        "{file}: not an `rdpshim matrix --json` output (line {line}, column {column}: {message})"
    )]
    NotMatrixJson {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {what}")]
    BadValue { file: String, what: String },
    #[error("{file}: not a shard (no `shard` field); only a single unsharded run merges alone")]
    NotAShard { file: String },
    #[error("{file}: shard {shard}, but {first} is shard {first_shard}: all shards must split into the same N")]
    DifferentCounts {
        file: String,
        shard: Shard,
        first: String,
        first_shard: Shard,
    },
    #[error("{file}: shard {shard} was given twice (also {other})")]
    ShardTwice {
        file: String,
        other: String,
        shard: Shard,
    },
    #[error("shard {0} is missing")]
    ShardMissing(Shard),
    #[error("{file}: cut from a different host list than {first}")]
    DifferentHostLists { file: String, first: String },
    #[error("{file}: its configurations differ from {first}'s")]
    DifferentConfigurations { file: String, first: String },
    #[error("{file}: host {host} is not shard {shard}'s (round robin over the host list)")]
    NotOwned {
        file: String,
        host: String,
        shard: Shard,
    },
    #[error("{file}: host {host} is missing")]
    HostMissing { file: String, host: String },
    #[error("{file}: host {host} has {found} cells for {expected} configurations")]
    CellCount {
        file: String,
        host: String,
        found: usize,
        expected: usize,
    },
}

/// One input: a name for messages (the file name) and its text.
pub struct Input<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// The run the shards make together, and the host list and N they were split from.
#[derive(Debug, Clone)]
pub struct Merged {
    pub run: MatrixRun,
    pub shards: usize,
}

pub fn merge(inputs: &[Input<'_>]) -> Result<Merged, MergeError> {
    let parts: Vec<Part> = inputs.iter().map(read).collect::<Result<_, _>>()?;
    let first = parts.first().ok_or(MergeError::Empty)?;
    let (count, of_hosts) = match &first.shard {
        Some(shard) => (shard.count, shard.of_hosts.clone()),
        None if parts.len() == 1 => (1, first.hosts.iter().map(|h| h.target.label()).collect()),
        None => {
            return Err(MergeError::NotAShard {
                file: first.name.clone(),
            })
        }
    };

    let mut by_index: HashMap<usize, &Part> = HashMap::new();
    for part in &parts {
        let shard = part.shard_or_whole(count);
        if part.shard.is_none() && parts.len() > 1 {
            return Err(MergeError::NotAShard {
                file: part.name.clone(),
            });
        }
        if shard.count != count {
            return Err(MergeError::DifferentCounts {
                file: part.name.clone(),
                shard,
                first: first.name.clone(),
                first_shard: first.shard_or_whole(count),
            });
        }
        if let Some(other) = by_index.insert(shard.index, part) {
            return Err(MergeError::ShardTwice {
                file: part.name.clone(),
                other: other.name.clone(),
                shard,
            });
        }
        if part.shard.as_ref().is_some_and(|s| s.of_hosts != of_hosts) {
            return Err(MergeError::DifferentHostLists {
                file: part.name.clone(),
                first: first.name.clone(),
            });
        }
        if part.configurations != first.configurations {
            return Err(MergeError::DifferentConfigurations {
                file: part.name.clone(),
                first: first.name.clone(),
            });
        }
    }
    for index in 1..=count {
        if !by_index.contains_key(&index) {
            return Err(MergeError::ShardMissing(Shard { index, count }));
        }
    }

    let mut hosts = Vec::with_capacity(of_hosts.len());
    for (position, label) in of_hosts.iter().enumerate() {
        let owner = (1..=count)
            .map(|index| Shard { index, count })
            .find(|s| s.owns(position))
            .and_then(|s| by_index.get(&s.index))
            .ok_or(MergeError::Empty)?;
        let host = owner
            .hosts
            .iter()
            .find(|h| h.target.label() == *label)
            .ok_or_else(|| MergeError::HostMissing {
                file: owner.name.clone(),
                host: label.clone(),
            })?;
        hosts.push(host.clone());
    }
    for part in &parts {
        let shard = part.shard_or_whole(count);
        for host in &part.hosts {
            let label = host.target.label();
            let owned = of_hosts
                .iter()
                .position(|l| *l == label)
                .is_some_and(|position| shard.owns(position));
            if !owned {
                return Err(MergeError::NotOwned {
                    file: part.name.clone(),
                    host: label,
                    shard,
                });
            }
        }
    }
    let elapsed = parts.iter().map(|p| p.elapsed).max().unwrap_or_default();
    Ok(Merged {
        run: MatrixRun {
            configurations: first.configurations.clone(),
            hosts,
            elapsed,
        },
        shards: count,
    })
}

/// One input, read.
struct Part {
    name: String,
    shard: Option<ShardFile>,
    configurations: Vec<Configuration>,
    hosts: Vec<HostRun>,
    elapsed: Duration,
}

impl Part {
    fn shard_or_whole(&self, count: usize) -> Shard {
        self.shard
            .as_ref()
            .map_or(Shard { index: 1, count }, |s| Shard {
                index: s.index,
                count: s.count,
            })
    }
}

// What `MatrixJson` wrote, as much of it as a run needs back (see `json.rs` for meanings).

#[derive(Deserialize)]
struct RunFile {
    hosts: Vec<HostFile>,
    configurations: Vec<ConfigurationFile>,
    cells: Vec<CellFile>,
    summary: SummaryFile,
    #[serde(default)]
    shard: Option<ShardFile>,
}

#[derive(Deserialize)]
struct ShardFile {
    index: usize,
    count: usize,
    of_hosts: Vec<String>,
}

#[derive(Deserialize)]
struct SummaryFile {
    ms: f64,
}

#[derive(Deserialize)]
struct HostFile {
    label: String,
    host: String,
    port: u16,
    addresses: Vec<String>,
    resolve_error: Option<String>,
    unreachable: bool,
}

#[derive(Deserialize)]
struct ConfigurationFile {
    id: String,
    nla: bool,
    tls: String,
    ciphers: Option<String>,
    dial: String,
    udp: bool,
    autologon: bool,
    extra: bool,
    /// A gateway configuration's gateway leg TLS (absent for direct ones, and in shards
    /// written before the route column).
    #[serde(default)]
    gateway_tls: Option<String>,
}

#[derive(Deserialize)]
struct CellFile {
    host: String,
    configuration: String,
    outcome: String,
    code: Option<String>,
    alert: Option<String>,
    stage: String,
    detail: String,
    ms: f64,
    dialled: bool,
    address: Option<String>,
    server_name: String,
    tls: Option<TlsFile>,
    selected_protocol: Option<String>,
}

#[derive(Deserialize)]
struct TlsFile {
    stack: String,
    version: String,
    cipher: String,
}

fn read(input: &Input<'_>) -> Result<Part, MergeError> {
    let file = input.name.to_owned();
    let parsed: RunFile =
        serde_json::from_str(input.text).map_err(|e| MergeError::NotMatrixJson {
            file: file.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let bad = |what: String| MergeError::BadValue {
        file: file.clone(),
        what,
    };
    let configurations: Vec<Configuration> = parsed
        .configurations
        .iter()
        .map(|c| {
            configuration(c).ok_or_else(|| bad(format!("configuration `{}` does not parse", c.id)))
        })
        .collect::<Result<_, _>>()?;
    let mut cells: HashMap<(&str, &str), &CellFile> = HashMap::new();
    for cell in &parsed.cells {
        cells.insert((cell.host.as_str(), cell.configuration.as_str()), cell);
    }
    let mut hosts = Vec::with_capacity(parsed.hosts.len());
    for host in &parsed.hosts {
        let target = Target {
            host: host.host.clone(),
            port: host.port,
        };
        if target.label() != host.label {
            return Err(bad(format!(
                "host `{}` is labelled `{}`",
                target, host.label
            )));
        }
        let mut row = Vec::with_capacity(configurations.len());
        for c in &configurations {
            let cell = cells
                .get(&(host.label.as_str(), c.id.as_str()))
                .ok_or_else(|| MergeError::CellCount {
                    file: file.clone(),
                    host: host.label.clone(),
                    found: parsed.cells.iter().filter(|x| x.host == host.label).count(),
                    expected: configurations.len(),
                })?;
            row.push(
                self::cell(cell).map_err(|what| bad(format!("{} {}: {what}", host.label, c.id)))?,
            );
        }
        let addresses = host
            .addresses
            .iter()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|_| bad(format!("address `{a}`")))
            })
            .collect::<Result<_, _>>()?;
        // The JSON keeps the resolver's words; its class and stage are the cells' (every
        // cell of a host that did not resolve carries that failure).
        let resolve_error = host.resolve_error.as_ref().map(|detail| {
            let (class, stage) = row
                .first()
                .and_then(|c: &Cell| c.failure.clone().map(|f| (f, c.stage)))
                .unwrap_or((FailureClass::Dns, Stage::Dns));
            Failure::new(stage, class, detail.clone())
        });
        hosts.push(HostRun {
            target,
            addresses,
            resolve_error,
            unreachable: host.unreachable,
            cells: row,
        });
    }
    Ok(Part {
        name: file.clone(),
        shard: parsed.shard,
        configurations,
        hosts,
        elapsed: millis(parsed.summary.ms),
    })
}

fn configuration(c: &ConfigurationFile) -> Option<Configuration> {
    let mut tls = parse_tls_name(&c.tls)?;
    tls.ciphers.clone_from(&c.ciphers);
    Some(Configuration {
        id: c.id.clone(),
        nla: c.nla,
        tls,
        dial: DialBy::parse(&c.dial)?,
        udp: c.udp,
        autologon: c.autologon,
        extra: c.extra,
        gateway: match &c.gateway_tls {
            Some(name) => Some(parse_tls_name(name)?),
            None => None,
        },
    })
}

/// A cell field that does not read back.
#[derive(Debug, thiserror::Error)]
#[error("{field} `{value}` is not one rdpshim writes")]
struct Unreadable {
    field: &'static str,
    value: String,
}

fn unreadable(field: &'static str, value: &str) -> Unreadable {
    Unreadable {
        field,
        value: value.to_owned(),
    }
}

fn cell(c: &CellFile) -> Result<Cell, Unreadable> {
    let failure = failure_class(&c.outcome, c.code.as_deref(), c.alert.as_deref())
        .ok_or_else(|| unreadable("outcome", &c.outcome))?;
    let stage = Stage::ALL
        .into_iter()
        .find(|s| s.as_str() == c.stage)
        .ok_or_else(|| unreadable("stage", &c.stage))?;
    let address = match &c.address {
        Some(a) => Some(a.parse().map_err(|_| unreadable("address", a))?),
        None => None,
    };
    let tls = match &c.tls {
        Some(t) => Some(TlsSession {
            stack: TlsStack::parse(&t.stack).ok_or_else(|| unreadable("TLS stack", &t.stack))?,
            version: TlsVersion::parse(&t.version)
                .ok_or_else(|| unreadable("TLS version", &t.version))?,
            cipher: t.cipher.clone(),
        }),
        None => None,
    };
    Ok(Cell {
        failure,
        stage,
        detail: c.detail.clone(),
        elapsed: millis(c.ms),
        dialled: c.dialled,
        address,
        server_name: c.server_name.clone(),
        tls,
        selected_protocol: c.selected_protocol.clone(),
    })
}

fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()
}

/// `ok` -> `Some(None)`; a failure class (with its code or alert) -> `Some(Some(class))`;
/// anything else -> `None`. The inverse of [`Cell::outcome`] with the JSON's `code` and
/// `alert`.
fn failure_class(
    outcome: &str,
    code: Option<&str>,
    alert: Option<&str>,
) -> Option<Option<FailureClass>> {
    if outcome == "ok" {
        return Some(None);
    }
    let plain = [
        FailureClass::Dns,
        FailureClass::TcpRefused,
        FailureClass::TcpTimeout,
        FailureClass::RdpSecuritySelected,
        FailureClass::TlsVersionMismatch,
        FailureClass::TlsCipherMismatch,
        FailureClass::PeerClosed,
        FailureClass::AuthFailed,
        FailureClass::CredsspError,
        FailureClass::Licensing,
        FailureClass::Timeout,
        FailureClass::ProtocolError,
        FailureClass::CredentialsRequired,
        FailureClass::CertificateChanged,
    ];
    if let Some(class) = plain.into_iter().find(|c| c.as_str() == outcome) {
        return Some(Some(class));
    }
    match outcome {
        "negotiation-failure" => {
            negotiation_code(code?).map(|c| Some(FailureClass::NegotiationFailure(c)))
        }
        "tls-other" => Some(Some(FailureClass::TlsOther(alert?.to_owned()))),
        _ => None,
    }
}

/// The inverse of [`NegotiationCode::name`].
fn negotiation_code(name: &str) -> Option<NegotiationCode> {
    if let Some(hex) = name.strip_prefix("UNKNOWN_0x") {
        return u32::from_str_radix(hex, 16)
            .ok()
            .map(NegotiationCode::from_u32);
    }
    (1..=7)
        .map(NegotiationCode::from_u32)
        .find(|c| c.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::baseline::Baseline;
    use crate::matrix::json::MatrixJson;
    use crate::matrix::test_support::{cell_failing, cell_ok, run_of};

    fn json(run: &MatrixRun, shard: Option<Shard>, of: &[&str]) -> String {
        let mut value = MatrixJson::new(run, None);
        if let Some(shard) = shard {
            value = value.with_shard(shard, of.iter().map(|s| (*s).to_owned()).collect());
        }
        serde_json::to_string(&value).unwrap()
    }

    fn whole() -> MatrixRun {
        let refused = Failure::new(
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::HybridRequiredByServer),
            "needs NLA",
        );
        let mut other = cell_failing("alert");
        other.failure = Some(FailureClass::TlsOther("bad_record_mac".into()));
        run_of(&[
            ("a:1", vec![cell_ok(), cell_failing("x")]),
            (
                "b:2",
                vec![Cell::not_dialled(&refused, "t", "b".into()), other],
            ),
            ("c:3", vec![cell_ok(), cell_ok()]),
        ])
    }

    fn part(run: &MatrixRun, shard: Shard) -> MatrixRun {
        let mut part = run.clone();
        part.hosts = run
            .hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.owns(*i))
            .map(|(_, h)| h.clone())
            .collect();
        part
    }

    const OF: [&str; 3] = ["a:1", "b:2", "c:3"];

    #[test]
    fn shards_merge_into_the_whole_run() {
        let whole = whole();
        let texts: Vec<String> = (1..=2)
            .map(|index| {
                let shard = Shard { index, count: 2 };
                json(&part(&whole, shard), Some(shard), &OF)
            })
            .collect();
        // Given in any order.
        let inputs = [
            Input {
                name: "s2.json",
                text: &texts[1],
            },
            Input {
                name: "s1.json",
                text: &texts[0],
            },
        ];
        let merged = merge(&inputs).unwrap();
        assert_eq!(merged.shards, 2);
        assert_eq!(
            Baseline::from_run(&merged.run).to_text(),
            Baseline::from_run(&whole).to_text()
        );
        for (a, b) in merged.run.hosts.iter().zip(&whole.hosts) {
            assert_eq!(a.target, b.target);
            for (x, y) in a.cells.iter().zip(&b.cells) {
                assert_eq!(
                    (&x.failure, x.stage, &x.detail, x.dialled),
                    (&y.failure, y.stage, &y.detail, y.dialled)
                );
            }
        }
    }

    #[test]
    fn an_unsharded_run_merges_alone_to_itself() {
        let whole = whole();
        let text = json(&whole, None, &[]);
        let merged = merge(&[Input {
            name: "all.json",
            text: &text,
        }])
        .unwrap();
        assert_eq!(Baseline::from_run(&merged.run), Baseline::from_run(&whole));
    }

    #[test]
    fn incomplete_or_mixed_shards_are_refused() {
        let whole = whole();
        let shard = |index, count| Shard { index, count };
        let text = |s: Shard, of: &[&str]| json(&part(&whole, s), Some(s), of);
        let one = text(shard(1, 2), &OF);
        let two = text(shard(2, 2), &OF);
        let input = |name, text| Input { name, text };

        assert_eq!(
            merge(&[input("s1", &one)]).unwrap_err(),
            MergeError::ShardMissing(shard(2, 2))
        );
        assert!(matches!(
            merge(&[input("s1", &one), input("again", &one)]).unwrap_err(),
            MergeError::ShardTwice { .. }
        ));
        let three = text(shard(2, 3), &OF);
        assert!(matches!(
            merge(&[input("s1", &one), input("t", &three)]).unwrap_err(),
            MergeError::DifferentCounts { .. }
        ));
        let other_list = text(shard(2, 2), &["a:1", "b:2", "c:3", "d:4"]);
        assert!(matches!(
            merge(&[input("s1", &one), input("o", &other_list)]).unwrap_err(),
            MergeError::DifferentHostLists { .. }
        ));
        // A shard that holds a host another shard owns (cut by hand, or a different rule).
        let wrong = json(&part(&whole, shard(1, 2)), Some(shard(2, 2)), &OF);
        assert!(matches!(
            merge(&[input("s1", &one), input("w", &wrong)]).unwrap_err(),
            MergeError::HostMissing { .. } | MergeError::NotOwned { .. }
        ));
        let mut fewer = whole.clone();
        fewer.configurations.truncate(1);
        for h in &mut fewer.hosts {
            h.cells.truncate(1);
        }
        let narrow = json(&part(&fewer, shard(2, 2)), Some(shard(2, 2)), &OF);
        assert!(matches!(
            merge(&[input("s1", &one), input("n", &narrow)]).unwrap_err(),
            MergeError::DifferentConfigurations { .. }
        ));
        assert!(matches!(
            merge(&[input("s1", &one), input("x", "{\"hosts\": 1}")]).unwrap_err(),
            MergeError::NotMatrixJson { .. }
        ));
        assert!(merge(&[input("s1", &one), input("s2", &two)]).is_ok());
    }

    #[test]
    fn every_outcome_reads_back() {
        let classes = [
            None,
            Some(FailureClass::NegotiationFailure(NegotiationCode::Unknown(
                0x99,
            ))),
            Some(FailureClass::NegotiationFailure(
                NegotiationCode::SslRequiredByServer,
            )),
            Some(FailureClass::TlsOther("x".into())),
            Some(FailureClass::CertificateChanged),
            Some(FailureClass::Dns),
        ];
        for class in classes {
            let code = match &class {
                Some(FailureClass::NegotiationFailure(c)) => Some(c.name()),
                _ => None,
            };
            let alert = match &class {
                Some(FailureClass::TlsOther(a)) => Some(a.clone()),
                _ => None,
            };
            let outcome = class.as_ref().map_or("ok", FailureClass::as_str);
            assert_eq!(
                failure_class(outcome, code.as_deref(), alert.as_deref()),
                Some(class)
            );
        }
        assert_eq!(failure_class("no-such-class", None, None), None);
    }
}
