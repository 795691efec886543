//! Baselines: the expected table (host -> configuration -> result), and what changed
//! against it. Pure: reading and writing the file is the CLI's job.
//!
//! The file is JSON so CI systems and people can diff it: one cell per line, hosts and
//! configurations in the order of the run that saved it:
//!
//! ```json
//! {
//!   "format": "rdpshim-matrix-baseline",
//!   "version": 1,
//!   "configurations": { "nla/rustls-auto/name/udp": "nla=on tls=rustls/auto dial=name udp=on" },
//!   "hosts": { "srv:3389": { "nla/rustls-auto/name/udp": "ok" } }
//! }
//! ```

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::runner::MatrixRun;

pub const FORMAT: &str = "rdpshim-matrix-baseline";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub format: String,
    pub version: u32,
    /// Configuration id -> what it does, so a redefined id is noticed.
    pub configurations: IndexMap<String, String>,
    /// Host label -> configuration id -> result (`ok`, or the failure class with the
    /// negotiation code or TLS alert in parentheses).
    pub hosts: IndexMap<String, IndexMap<String, String>>,
}

/// A file that is not a baseline this version can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineError(pub String);

impl fmt::Display for BaselineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Baseline {
    pub fn from_run(run: &MatrixRun) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            configurations: run
                .configurations
                .iter()
                .map(|c| (c.id.clone(), c.describe()))
                .collect(),
            hosts: run
                .hosts
                .iter()
                .map(|host| {
                    let cells = run
                        .configurations
                        .iter()
                        .zip(&host.cells)
                        .map(|(c, cell)| (c.id.clone(), cell.result_key()))
                        .collect();
                    (host.target.label(), cells)
                })
                .collect(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, BaselineError> {
        let baseline: Baseline = serde_json::from_str(text).map_err(|e| {
            BaselineError(format!(
                "not an rdpshim matrix baseline (line {}, column {}: {e})",
                e.line(),
                e.column()
            ))
        })?;
        if baseline.format != FORMAT {
            return Err(BaselineError(format!(
                "not an rdpshim matrix baseline (format `{}`)",
                baseline.format
            )));
        }
        if baseline.version != VERSION {
            return Err(BaselineError(format!(
                "baseline version {} is not supported (this rdpshim reads version {VERSION})",
                baseline.version
            )));
        }
        Ok(baseline)
    }

    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// ok -> failure. The only kind that fails a run.
    Regression,
    /// failure -> ok.
    Improvement,
    /// failure -> another failure.
    Changed,
    /// In this run, not in the baseline.
    New,
    /// In the baseline, not in this run.
    Missing,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regression => "regression",
            Self::Improvement => "improvement",
            Self::Changed => "changed",
            Self::New => "new",
            Self::Missing => "missing",
        }
    }
}

/// One cell that differs from the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub host: String,
    pub configuration: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Regressions first, then by kind; within a kind in the order of the run (missing
    /// cells in the baseline's order).
    pub changes: Vec<Change>,
    /// Configuration ids whose definition differs from the baseline's: their cells are
    /// compared anyway, but a change there may be the definition's, not the server's.
    pub redefined: Vec<String>,
}

impl Comparison {
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }

    pub fn has_regressions(&self) -> bool {
        self.count(ChangeKind::Regression) > 0
    }

    /// The change of one cell, if it changed.
    pub fn change_of(&self, host: &str, configuration: &str) -> Option<&Change> {
        self.changes
            .iter()
            .find(|c| c.host == host && c.configuration == configuration)
    }
}

/// What changed from `before` (the baseline) to `after` (this run, as a baseline).
pub fn compare(before: &Baseline, after: &Baseline) -> Comparison {
    let mut changes = Vec::new();
    let empty: IndexMap<String, String> = IndexMap::new();
    for (host, cells) in &after.hosts {
        let old = before.hosts.get(host).unwrap_or(&empty);
        for (configuration, now) in cells {
            let kind = match old.get(configuration) {
                None => Some(ChangeKind::New),
                Some(was) if was == now => None,
                Some(was) if was == "ok" => Some(ChangeKind::Regression),
                Some(_) if now == "ok" => Some(ChangeKind::Improvement),
                Some(_) => Some(ChangeKind::Changed),
            };
            if let Some(kind) = kind {
                changes.push(Change {
                    kind,
                    host: host.clone(),
                    configuration: configuration.clone(),
                    before: old.get(configuration).cloned(),
                    after: Some(now.clone()),
                });
            }
        }
    }
    for (host, cells) in &before.hosts {
        let new = after.hosts.get(host).unwrap_or(&empty);
        for (configuration, was) in cells {
            if !new.contains_key(configuration) {
                changes.push(Change {
                    kind: ChangeKind::Missing,
                    host: host.clone(),
                    configuration: configuration.clone(),
                    before: Some(was.clone()),
                    after: None,
                });
            }
        }
    }
    // Stable: within a kind, the run's order of hosts and configurations.
    changes.sort_by_key(|c| c.kind);
    let redefined = after
        .configurations
        .iter()
        .filter(|(id, now)| {
            before
                .configurations
                .get(*id)
                .is_some_and(|was| was != *now)
        })
        .map(|(id, _)| id.clone())
        .collect();
    Comparison { changes, redefined }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(hosts: &[(&str, &[(&str, &str)])]) -> Baseline {
        let mut b = Baseline {
            format: FORMAT.into(),
            version: VERSION,
            configurations: IndexMap::new(),
            hosts: IndexMap::new(),
        };
        for (host, cells) in hosts {
            let row = b.hosts.entry((*host).into()).or_default();
            for (config, result) in *cells {
                row.insert((*config).into(), (*result).into());
                b.configurations
                    .insert((*config).into(), format!("def {config}"));
            }
        }
        b
    }

    #[test]
    fn every_kind_of_change_is_named_and_only_regressions_fail() {
        let before = baseline(&[
            (
                "a:1",
                &[
                    ("c1", "ok"),
                    ("c2", "tls-version-mismatch"),
                    ("c3", "timeout"),
                    ("c4", "ok"),
                ],
            ),
            ("gone:1", &[("c1", "ok")]),
        ]);
        let after = baseline(&[
            (
                "a:1",
                &[
                    ("c1", "tls-version-mismatch"),
                    ("c2", "ok"),
                    ("c3", "peer-closed"),
                    ("c4", "ok"),
                    ("c5", "ok"),
                ],
            ),
            ("b:1", &[("c1", "ok")]),
        ]);
        let cmp = compare(&before, &after);
        let got: Vec<(&str, &str, &str)> = cmp
            .changes
            .iter()
            .map(|c| (c.kind.as_str(), c.host.as_str(), c.configuration.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("regression", "a:1", "c1"),
                ("improvement", "a:1", "c2"),
                ("changed", "a:1", "c3"),
                ("new", "a:1", "c5"),
                ("new", "b:1", "c1"),
                ("missing", "gone:1", "c1"),
            ]
        );
        assert!(cmp.has_regressions());
        assert_eq!(
            cmp.change_of("a:1", "c3").unwrap().before.as_deref(),
            Some("timeout")
        );
        assert!(cmp.change_of("a:1", "c4").is_none());
        assert!(!compare(&after, &after).has_regressions());
        assert!(compare(&after, &after).changes.is_empty());
    }

    #[test]
    fn a_redefined_configuration_is_reported() {
        let before = baseline(&[("a:1", &[("c1", "ok")])]);
        let mut after = before.clone();
        after.configurations.insert("c1".into(), "other".into());
        assert_eq!(compare(&before, &after).redefined, ["c1"]);
    }

    #[test]
    fn the_file_round_trips_and_foreign_files_are_refused() {
        let b = baseline(&[(
            "a:1",
            &[
                ("c1", "ok"),
                ("c2", "negotiation-failure (SSL_REQUIRED_BY_SERVER)"),
            ],
        )]);
        let text = b.to_text();
        assert_eq!(Baseline::parse(&text).unwrap(), b);
        assert!(text.contains("\n      \"c1\": \"ok\""), "{text}");
        for bad in [
            "",
            "{}",
            "[1]",
            "{\"format\": \"other\", \"version\": 1, \"configurations\": {}, \"hosts\": {}}",
            "{\"format\": \"rdpshim-matrix-baseline\", \"version\": 2, \"configurations\": {}, \"hosts\": {}}",
            "host,config,result\n",
        ] {
            assert!(Baseline::parse(bad).is_err(), "{bad}");
        }
    }
}
