//! The `rdpshim matrix --json` shape: everything, one object. Field names are a public
//! interface (CI scripts parse them): add fields, do not rename them.

use serde::Serialize;

use super::baseline::{ChangeKind, Comparison};
use super::cell::Cell;
use super::config::{tls_name, Configuration};
use super::runner::MatrixRun;
use super::shard::Shard;
use crate::planner::causes::of_failure;
use crate::planner::{CauseId, Knobs, Nla, Route, ViaGateway};
use crate::report::FailureClass;

#[derive(Debug, Serialize)]
pub struct MatrixJson {
    pub hosts: Vec<HostJson>,
    pub configurations: Vec<ConfigurationJson>,
    /// Host-major: every configuration of the first host, then the next host.
    pub cells: Vec<CellJson>,
    pub summary: SummaryJson,
    /// Present with `--baseline`.
    pub comparison: Option<ComparisonJson>,
    /// Present with `--shard K/N`: which part of which host list this run is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardJson>,
}

/// A shard's place: `rdpshim matrix merge` checks that the shards are the N parts of one list.
#[derive(Debug, Serialize)]
pub struct ShardJson {
    pub index: usize,
    pub count: usize,
    /// The whole host list the shard was cut from (labels, in order).
    pub of_hosts: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HostJson {
    /// `host:port`, the key used in `cells`, baselines and JUnit.
    pub label: String,
    pub host: String,
    pub port: u16,
    /// Resolver order; by-IP cells dial the first.
    pub addresses: Vec<String>,
    /// Why the host did not resolve (then no cell was dialled).
    pub resolve_error: Option<String>,
    /// The first cell did not reach the host over TCP; the others were not dialled.
    pub unreachable: bool,
    pub ok: usize,
    pub not_ok: usize,
}

#[derive(Debug, Serialize)]
pub struct ConfigurationJson {
    pub id: String,
    pub nla: bool,
    /// `rustls-auto`, `openssl-1.0`, ...
    pub tls: String,
    pub ciphers: Option<String>,
    /// `name` or `ip`.
    pub dial: &'static str,
    pub udp: bool,
    pub autologon: bool,
    /// Defined in `--configs` rather than generated.
    pub extra: bool,
    /// `direct` or `gateway`.
    pub route: &'static str,
    /// The gateway leg's TLS (`rustls-auto`, ...) for a gateway configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_tls: Option<String>,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct CellJson {
    pub host: String,
    pub configuration: String,
    /// `ok` or a failure class (the same strings as `rdpshim connect --json`).
    pub outcome: &'static str,
    /// RDP_NEG_FAILURE code name, for `negotiation-failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// TLS alert or reason, for `tls-other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// What baselines record: the outcome with the code or alert in parentheses.
    pub result: String,
    pub stage: &'static str,
    pub detail: String,
    pub ms: f64,
    /// False when the outcome was inferred without an attempt (see `detail`).
    pub dialled: bool,
    pub address: Option<String>,
    pub server_name: String,
    /// Negotiated TLS, when the handshake completed: `{stack, version, cipher}`.
    pub tls: Option<crate::report::TlsSession>,
    pub selected_protocol: Option<String>,
    /// The cause from the table of causes that this cell's failure points to (the same ids
    /// as `rdpshim diagnose` and `connect`'s verdict), when it points to one.
    pub cause: Option<CauseId>,
    /// Against `--baseline`: regression, improvement, changed or new; null when unchanged.
    pub change: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct SummaryJson {
    pub hosts: usize,
    pub configurations: usize,
    pub cells: usize,
    pub ok: usize,
    pub not_ok: usize,
    pub not_dialled: usize,
    pub ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ComparisonJson {
    pub baseline: String,
    pub regressions: usize,
    pub improvements: usize,
    pub changed: usize,
    pub new: usize,
    pub missing: usize,
    /// Every changed cell (missing ones included), regressions first.
    pub changes: Vec<ChangeJson>,
    /// Configuration ids defined differently than in the baseline.
    pub redefined: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ChangeJson {
    pub kind: &'static str,
    pub host: String,
    pub configuration: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn configuration_json(c: &Configuration) -> ConfigurationJson {
    ConfigurationJson {
        id: c.id.clone(),
        nla: c.nla,
        tls: tls_name(&c.tls),
        ciphers: c.tls.ciphers.clone(),
        dial: c.dial.as_str(),
        udp: c.udp,
        autologon: c.autologon,
        extra: c.extra,
        route: c.route().as_str(),
        gateway_tls: c.gateway.as_ref().map(tls_name),
        description: c.describe(),
    }
}

fn cell_json(
    host: &str,
    configuration: &Configuration,
    cell: &Cell,
    change: Option<&'static str>,
) -> CellJson {
    // What the cell offered, as the planner's knobs (NLA, TLS and the gateway leg's TLS
    // decide a cause).
    let offered = Knobs {
        nla: Nla::exact(configuration.nla),
        tls: configuration.tls.clone(),
        udp: configuration.udp,
        route: match &configuration.gateway {
            Some(tls) => Route::Gateway(ViaGateway {
                tls: tls.clone(),
                ..ViaGateway::strongest()
            }),
            None => Route::Direct,
        },
        ..Knobs::strongest()
    };
    CellJson {
        host: host.to_owned(),
        configuration: configuration.id.clone(),
        cause: cell
            .failure
            .as_ref()
            .and_then(|class| of_failure(&offered, cell.stage, class)),
        outcome: cell.outcome(),
        code: match &cell.failure {
            Some(FailureClass::NegotiationFailure(code)) => Some(code.name()),
            _ => None,
        },
        alert: match &cell.failure {
            Some(FailureClass::TlsOther(alert)) => Some(alert.clone()),
            _ => None,
        },
        result: cell.result_key(),
        stage: cell.stage.as_str(),
        detail: cell.detail.clone(),
        ms: crate::report::millis(cell.elapsed),
        dialled: cell.dialled,
        address: cell.address.map(|a| a.to_string()),
        server_name: cell.server_name.clone(),
        tls: cell.tls.clone(),
        selected_protocol: cell.selected_protocol.clone(),
        change,
    }
}

impl MatrixJson {
    pub fn new(run: &MatrixRun, comparison: Option<(&Comparison, &str)>) -> Self {
        let mut cells = Vec::new();
        let mut hosts = Vec::new();
        for host in &run.hosts {
            let label = host.target.label();
            for (configuration, cell) in run.configurations.iter().zip(&host.cells) {
                let change = comparison
                    .and_then(|(c, _)| c.change_of(&label, &configuration.id))
                    .map(|c| c.kind.as_str());
                cells.push(cell_json(&label, configuration, cell, change));
            }
            let ok = host.cells.iter().filter(|c| c.is_ok()).count();
            hosts.push(HostJson {
                label,
                host: host.target.host.clone(),
                port: host.target.port,
                addresses: host.addresses.iter().map(ToString::to_string).collect(),
                resolve_error: host.resolve_error.as_ref().map(|f| f.detail.clone()),
                unreachable: host.unreachable,
                ok,
                not_ok: host.cells.len() - ok,
            });
        }
        let ok = cells.iter().filter(|c| c.outcome == "ok").count();
        let summary = SummaryJson {
            hosts: run.hosts.len(),
            configurations: run.configurations.len(),
            cells: cells.len(),
            ok,
            not_ok: cells.len() - ok,
            not_dialled: cells.iter().filter(|c| !c.dialled).count(),
            ms: crate::report::millis(run.elapsed),
        };
        Self {
            hosts,
            configurations: run.configurations.iter().map(configuration_json).collect(),
            cells,
            summary,
            comparison: comparison.map(|(c, path)| ComparisonJson {
                baseline: path.to_owned(),
                regressions: c.count(ChangeKind::Regression),
                improvements: c.count(ChangeKind::Improvement),
                changed: c.count(ChangeKind::Changed),
                new: c.count(ChangeKind::New),
                missing: c.count(ChangeKind::Missing),
                changes: c
                    .changes
                    .iter()
                    .map(|change| ChangeJson {
                        kind: change.kind.as_str(),
                        host: change.host.clone(),
                        configuration: change.configuration.clone(),
                        before: change.before.clone(),
                        after: change.after.clone(),
                    })
                    .collect(),
                redefined: c.redefined.clone(),
            }),
            shard: None,
        }
    }

    /// Marks the run as `shard` of the host list `of_hosts` (labels, in order).
    pub fn with_shard(mut self, shard: Shard, of_hosts: Vec<String>) -> Self {
        self.shard = Some(ShardJson {
            index: shard.index,
            count: shard.count,
            of_hosts,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::baseline::{compare, Baseline};
    use crate::matrix::test_support::{cell_failing, cell_ok, run_of};

    #[test]
    fn every_cell_and_the_comparison_are_in_the_object() {
        let before = run_of(&[("srv:3389", vec![cell_ok(), cell_ok()])]);
        let mut dead = cell_failing("gone");
        dead.dialled = false;
        let after = run_of(&[("srv:3389", vec![cell_ok(), dead])]);
        let cmp = compare(&Baseline::from_run(&before), &Baseline::from_run(&after));
        let value = serde_json::to_value(MatrixJson::new(&after, Some((&cmp, "b.json")))).unwrap();
        assert_eq!(value["cells"].as_array().unwrap().len(), 2);
        let cell = &value["cells"][1];
        assert_eq!(cell["outcome"], "tls-version-mismatch");
        assert_eq!(cell["dialled"], false);
        assert_eq!(cell["change"], "regression");
        assert_eq!(value["cells"][0]["change"], serde_json::Value::Null);
        assert_eq!(value["summary"]["not_dialled"], 1);
        assert_eq!(value["comparison"]["regressions"], 1);
        assert_eq!(value["comparison"]["changes"][0]["before"], "ok");
        assert_eq!(value["configurations"][0]["tls"], "rustls-auto");
        assert_eq!(value["hosts"][0]["label"], "srv:3389");
    }
}
