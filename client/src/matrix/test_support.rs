//! Small runs built by hand for the pure renderers' tests.

use std::time::Duration;

use super::cell::Cell;
use super::config::Dimensions;
use super::hosts::Target;
use super::runner::{HostRun, MatrixRun};
use crate::report::{Failure, FailureClass, Stage};

pub fn cell_ok() -> Cell {
    Cell {
        failure: None,
        stage: Stage::FirstFrame,
        detail: "first frame 1024x768".into(),
        elapsed: Duration::from_millis(30),
        dialled: true,
        address: None,
        server_name: "srv".into(),
        tls: None,
        selected_protocol: Some("ssl".into()),
    }
}

pub fn cell_failing(detail: &str) -> Cell {
    let failure = Failure::new(Stage::Tls, FailureClass::TlsVersionMismatch, detail);
    let mut cell = Cell::not_dialled(&failure, "x", "srv".into());
    cell.dialled = true;
    cell.detail = detail.into();
    cell
}

/// A run over the first `cells.len()` default configurations for each host.
pub fn run_of(hosts: &[(&str, Vec<Cell>)]) -> MatrixRun {
    let width = hosts.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
    let configurations = Dimensions::default()
        .expand()
        .into_iter()
        .take(width)
        .collect();
    MatrixRun {
        configurations,
        hosts: hosts
            .iter()
            .map(|(label, cells)| HostRun {
                target: Target::parse(label).unwrap(),
                addresses: Vec::new(),
                resolve_error: None,
                unreachable: false,
                cells: cells.clone(),
            })
            .collect(),
        elapsed: Duration::from_millis(1234),
    }
}
