//! `--shard K/N`: one of N deterministic parts of a matrix, so a large fleet runs across CI
//! runners (the CI system's job matrix is the distributed engine; `rdpshim matrix merge`
//! joins the parts).
//!
//! The split is **by host, round robin over the host list** (after duplicates are dropped):
//! the host at position i (0-based) belongs to shard `i mod N + 1`.
//!
//! - By host, not by cell, because a host's cells depend on each other: each host is
//!   resolved once, and a host whose first cell cannot reach it has its other cells
//!   recorded as not dialled (a dead host costs one timeout). Split by cell, every shard
//!   holding a piece of a dead host would pay that timeout again, and the not-dialled
//!   inference would differ from one run's.
//! - Round robin rather than a hash of the name, so shard sizes differ by at most one host
//!   (a hash leaves some runners idle on small fleets), and the assignment is a plain
//!   function of the list every runner is given. Each shard records the whole list, and
//!   `merge` refuses shards cut from different lists.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::hosts::Target;

/// Shard `index` of `count` (1-based, as people and CI matrices count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// `--shard` text that is not `K/N` with 1 <= K <= N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}`: expected K/N with 1 <= K <= N (e.g. 2/4)")]
pub struct ShardError(pub String);

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        let bad = || ShardError(text.to_owned());
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the host at `position` in the list belongs to this shard.
    pub fn owns(self, position: usize) -> bool {
        position % self.count + 1 == self.index
    }

    /// This shard's hosts, in list order.
    pub fn select(self, targets: &[Target]) -> Vec<Target> {
        targets
            .iter()
            .enumerate()
            .filter(|(i, _)| self.owns(*i))
            .map(|(_, t)| t.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| Target::parse(&format!("h{i}:3389")).unwrap())
            .collect()
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", "", "/"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_host_is_in_exactly_one_shard_and_sizes_differ_by_at_most_one() {
        for hosts in [0, 1, 3, 4, 7, 50, 61] {
            let all = targets(hosts);
            for count in 1..=6 {
                let parts: Vec<Vec<Target>> = (1..=count)
                    .map(|index| Shard { index, count }.select(&all))
                    .collect();
                let mut seen: Vec<&Target> = parts.iter().flatten().collect();
                assert_eq!(seen.len(), hosts, "{hosts} hosts / {count}");
                seen.sort_by_key(|t| t.label());
                seen.dedup();
                assert_eq!(seen.len(), hosts, "no host twice");
                let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min(), sizes.iter().max());
                assert!(max.unwrap() - min.unwrap() <= 1, "{sizes:?}");
            }
        }
    }

    #[test]
    fn round_robin_in_list_order() {
        let all = targets(5);
        let labels = |shard: Shard| -> Vec<String> {
            shard.select(&all).iter().map(Target::label).collect()
        };
        assert_eq!(
            labels(Shard { index: 1, count: 2 }),
            ["h0:3389", "h2:3389", "h4:3389"]
        );
        assert_eq!(labels(Shard { index: 2, count: 2 }), ["h1:3389", "h3:3389"]);
    }
}
