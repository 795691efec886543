//! Placeholder; filled in by the diagnose_lab work.
