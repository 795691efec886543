//! `--junit FILE`: the matrix as JUnit XML (quick-junit writes and escapes it), the format
//! every CI system shows. One testsuite per host, one testcase per configuration.
//!
//! With a baseline a testcase fails only for a regression (ok -> failure): a cell that
//! failed in the baseline and still fails is the expected state of that server, not a CI
//! failure. Without a baseline every cell that is not ok fails.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::baseline::{ChangeKind, Comparison};
use super::cell::Cell;
use super::runner::MatrixRun;

/// The XML could not be written (quick-junit's serializer failed).
#[derive(Debug, thiserror::Error)]
#[error("writing JUnit XML: {0}")]
pub struct JunitError(#[from] quick_junit::SerializeError);

pub fn render(run: &MatrixRun, comparison: Option<&Comparison>) -> Result<String, JunitError> {
    let mut report = Report::new("rdpshim matrix");
    report.set_time(run.elapsed);
    for host in &run.hosts {
        let label = host.target.label();
        let mut suite = TestSuite::new(label.clone());
        for (configuration, cell) in run.configurations.iter().zip(&host.cells) {
            let change = comparison.and_then(|c| c.change_of(&label, &configuration.id));
            let failed = match comparison {
                Some(_) => change.is_some_and(|c| c.kind == ChangeKind::Regression),
                None => !cell.is_ok(),
            };
            let status = if failed {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let message = match change {
                    Some(c) => format!(
                        "regression: {} -> {}",
                        c.before.as_deref().unwrap_or("?"),
                        cell.result_key()
                    ),
                    None => format!("{} at {}", cell.result_key(), cell.stage),
                };
                status
                    .set_message(message)
                    .set_type(cell.outcome())
                    .set_description(cell.detail.clone());
                status
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(configuration.id.clone(), status);
            case.set_classname(label.clone())
                .set_time(cell.elapsed)
                .set_system_out(system_out(cell, configuration.describe(), change));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

fn system_out(cell: &Cell, describe: String, change: Option<&super::baseline::Change>) -> String {
    let mut out = format!(
        "{describe}\n{} at {}: {}\n",
        cell.result_key(),
        cell.stage,
        cell.detail
    );
    if let Some(change) = change {
        out.push_str(&format!(
            "{} against the baseline: {} -> {}\n",
            change.kind.as_str(),
            change.before.as_deref().unwrap_or("(none)"),
            change.after.as_deref().unwrap_or("(none)")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::baseline::{compare, Baseline};
    use crate::matrix::test_support::{cell_failing, cell_ok, run_of};

    #[test]
    fn one_suite_per_host_one_case_per_configuration_failures_for_cells_not_ok() {
        let run = run_of(&[
            ("a&b:1", vec![cell_ok(), cell_failing("x <y> \"z\"")]),
            ("c:2", vec![cell_ok(), cell_ok()]),
        ]);
        let xml = render(&run, None).unwrap();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(
            xml.contains("<testsuites name=\"rdpshim matrix\" tests=\"4\""),
            "{xml}"
        );
        assert!(xml.contains("failures=\"1\" errors=\"0\" time="), "{xml}");
        assert!(
            xml.contains("<testsuite name=\"a&amp;b:1\" tests=\"2\""),
            "{xml}"
        );
        assert!(xml.contains("x &lt;y&gt;"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 4);
    }

    #[test]
    fn with_a_baseline_only_regressions_fail() {
        let before = run_of(&[("a:1", vec![cell_ok(), cell_failing("old")])]);
        let after = run_of(&[("a:1", vec![cell_failing("new"), cell_failing("old")])]);
        let cmp = compare(&Baseline::from_run(&before), &Baseline::from_run(&after));
        let xml = render(&after, Some(&cmp)).unwrap();
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(
            xml.contains("regression: ok -&gt; tls-version-mismatch"),
            "{xml}"
        );
        let unchanged = render(
            &after,
            Some(&compare(
                &Baseline::from_run(&after),
                &Baseline::from_run(&after),
            )),
        )
        .unwrap();
        assert!(unchanged.contains("failures=\"0\""), "{unchanged}");
    }
}
