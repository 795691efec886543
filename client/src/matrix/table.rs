//! The matrix for people: a grid (configurations x hosts) when the hosts fit side by side,
//! else a line per host and a line per configuration; then the changes against a baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::baseline::{ChangeKind, Comparison};
use super::cell::Cell;
use super::runner::{HostRun, MatrixRun};

/// More hosts than this and the grid would not fit a terminal: summaries instead.
pub const GRID_MAX_HOSTS: usize = 4;

/// Marks a cell whose outcome was inferred without dialling.
const NOT_DIALLED: &str = "*";

pub fn render(run: &MatrixRun) -> String {
    let mut out = if run.hosts.len() <= GRID_MAX_HOSTS {
        grid(run)
    } else {
        summary(run)
    };
    if run.hosts.iter().flat_map(|h| &h.cells).any(|c| !c.dialled) {
        out.push_str(&format!(
            "{NOT_DIALLED} not dialled: the host did not resolve, or its first cell did not reach it over TCP\n"
        ));
    }
    out.push_str(&footer(run));
    out
}

fn short(cell: &Cell) -> String {
    let mark = if cell.dialled { "" } else { NOT_DIALLED };
    format!("{}{mark}", cell.outcome())
}

/// Width of the configuration-id column, header included.
fn configuration_width(run: &MatrixRun) -> usize {
    run.configurations
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(0)
        .max("CONFIGURATION".len())
}

fn grid(run: &MatrixRun) -> String {
    let first = configuration_width(run);
    let widths: Vec<usize> = run
        .hosts
        .iter()
        .map(|h| {
            let widest = h.cells.iter().map(|c| short(c).len()).max().unwrap_or(0);
            h.target.label().len().max(widest)
        })
        .collect();
    let mut out = format!("{:first$}", "CONFIGURATION");
    for (host, width) in run.hosts.iter().zip(&widths) {
        let _ = write!(out, "  {:width$}", host.target.label());
    }
    out = out.trim_end().to_owned() + "\n";
    for (index, configuration) in run.configurations.iter().enumerate() {
        let mut line = format!("{:first$}", configuration.id);
        for (host, width) in run.hosts.iter().zip(&widths) {
            let text = host.cells.get(index).map(short).unwrap_or_default();
            let _ = write!(line, "  {text:width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn summary(run: &MatrixRun) -> String {
    let total = run.configurations.len();
    let width = run
        .hosts
        .iter()
        .map(|h| h.target.label().len())
        .max()
        .unwrap_or(0)
        .max("HOST".len());
    let mut out = format!("{:width$}  {:>7}  FAILURES\n", "HOST", "OK");
    for host in &run.hosts {
        let ok = host.cells.iter().filter(|c| c.is_ok()).count();
        let _ = writeln!(
            out,
            "{:width$}  {:>7}  {}",
            host.target.label(),
            format!("{ok}/{total}"),
            failures(host)
        );
    }
    let width = configuration_width(run);
    let hosts = run.hosts.len();
    let _ = writeln!(out, "\n{:width$}  OK ON HOSTS", "CONFIGURATION");
    for (index, configuration) in run.configurations.iter().enumerate() {
        let ok = run
            .hosts
            .iter()
            .filter(|h| h.cells.get(index).is_some_and(Cell::is_ok))
            .count();
        let _ = writeln!(out, "{:width$}  {ok}/{hosts}", configuration.id);
    }
    out
}

/// `20 negotiation-failure, 16 tls-version-mismatch`, most frequent first.
fn failures(host: &HostRun) -> String {
    if let Some(failure) = &host.resolve_error {
        return format!(
            "{} (does not resolve; nothing dialled)",
            failure.class.as_str()
        );
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for cell in host.cells.iter().filter(|c| !c.is_ok()) {
        *counts.entry(cell.outcome()).or_default() += 1;
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut text = counts
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect::<Vec<_>>()
        .join(", ");
    if host.unreachable {
        text.push_str(" (unreachable: dialled once)");
    }
    if text.is_empty() {
        text.push('-');
    }
    text
}

/// The counts line: hosts x configurations = cells, ok, not ok, time.
pub fn footer(run: &MatrixRun) -> String {
    let cells: Vec<&Cell> = run.hosts.iter().flat_map(|h| &h.cells).collect();
    let ok = cells.iter().filter(|c| c.is_ok()).count();
    let not_dialled = cells.iter().filter(|c| !c.dialled).count();
    format!(
        "{} host{} x {} configuration{} = {} cells: {ok} ok, {} not ok ({not_dialled} not dialled), {:.1} s\n",
        run.hosts.len(),
        plural(run.hosts.len()),
        run.configurations.len(),
        plural(run.configurations.len()),
        cells.len(),
        cells.len() - ok,
        run.elapsed.as_secs_f64()
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Each changed cell on a line (regressions first), then the counts.
pub fn changes(comparison: &Comparison, baseline: &str) -> String {
    let host_width = comparison
        .changes
        .iter()
        .map(|c| c.host.len())
        .max()
        .unwrap_or(0);
    let config_width = comparison
        .changes
        .iter()
        .map(|c| c.configuration.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for change in &comparison.changes {
        let _ = writeln!(
            out,
            "{:11}  {:host_width$}  {:config_width$}  {} -> {}",
            change.kind.as_str(),
            change.host,
            change.configuration,
            change.before.as_deref().unwrap_or("(none)"),
            change.after.as_deref().unwrap_or("(none)")
        );
    }
    for id in &comparison.redefined {
        let _ = writeln!(
            out,
            "note: configuration {id} is defined differently than in the baseline"
        );
    }
    let count = |kind| comparison.count(kind);
    let _ = writeln!(
        out,
        "against {baseline}: {} regression{}, {} improvement{}, {} changed, {} new, {} missing",
        count(ChangeKind::Regression),
        plural(count(ChangeKind::Regression)),
        count(ChangeKind::Improvement),
        plural(count(ChangeKind::Improvement)),
        count(ChangeKind::Changed),
        count(ChangeKind::New),
        count(ChangeKind::Missing),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::baseline::{compare, Baseline};
    use crate::matrix::test_support::{cell_failing, cell_ok, run_of};

    #[test]
    fn few_hosts_make_a_grid_with_not_dialled_marks() {
        let mut dead = cell_failing("x");
        dead.dialled = false;
        let run = run_of(&[
            ("srv:3389", vec![cell_ok(), cell_failing("x")]),
            ("10.0.0.9:3389", vec![cell_failing("x"), dead]),
        ]);
        let text = render(&run);
        let lines: Vec<&str> = text.lines().collect();
        let expected = [
            "CONFIGURATION                srv:3389              10.0.0.9:3389",
            "nla/rustls-auto/name/udp     ok                    tls-version-mismatch",
            "nla/rustls-auto/name/no-udp  tls-version-mismatch  tls-version-mismatch*",
        ];
        assert_eq!(lines[..3], expected, "{text}");
        assert!(lines[3].starts_with("* not dialled"), "{text}");
        assert_eq!(
            lines[4],
            "2 hosts x 2 configurations = 4 cells: 1 ok, 3 not ok (1 not dialled), 1.2 s"
        );
    }

    #[test]
    fn many_hosts_make_summaries_per_host_and_per_configuration() {
        let hosts: Vec<(String, Vec<Cell>)> = (0..5)
            .map(|n| (format!("h{n}:3389"), vec![cell_ok(), cell_failing("x")]))
            .collect();
        let hosts: Vec<(&str, Vec<Cell>)> =
            hosts.iter().map(|(h, c)| (h.as_str(), c.clone())).collect();
        let text = render(&run_of(&hosts));
        assert!(
            text.contains("h4:3389      1/2  1 tls-version-mismatch\n"),
            "{text}"
        );
        assert!(
            text.contains("nla/rustls-auto/name/udp     5/5\n"),
            "{text}"
        );
        assert!(
            text.contains("nla/rustls-auto/name/no-udp  0/5\n"),
            "{text}"
        );
    }

    #[test]
    fn changes_are_listed_cell_by_cell() {
        let before = run_of(&[("srv:3389", vec![cell_ok(), cell_failing("x")])]);
        let after = run_of(&[("srv:3389", vec![cell_failing("x"), cell_ok()])]);
        let cmp = compare(&Baseline::from_run(&before), &Baseline::from_run(&after));
        let text = changes(&cmp, "base.json");
        assert_eq!(
            text,
            "regression   srv:3389  nla/rustls-auto/name/udp     ok -> tls-version-mismatch\n\
             improvement  srv:3389  nla/rustls-auto/name/no-udp  tls-version-mismatch -> ok\n\
             against base.json: 1 regression, 1 improvement, 0 changed, 0 new, 0 missing\n"
        );
    }
}
