//! Placeholder; filled in by the matrix_lab work.
