//! Saved per-host profiles (issue 3).
