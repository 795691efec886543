//! Every file rdpshim reads or writes goes through here: profiles and their locks, `.rdp`
//! imports and exports, matrix baselines and JUnit files, screenshots. Files are where a
//! hostile local user (or a careless script) can lead a program astray, so the rules are
//! kept in one place:
//!
//! - **Nothing is written through a symbolic link, or outside where the user asked.**
//!   Writes replace a file atomically (`replace.rs`) from a temporary file created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW` under an unpredictable name in the target's own
//!   directory, everything relative to one open directory descriptor ([`Dir`]). A link, a
//!   FIFO, a device, a socket or a directory at the target is refused and left as it is
//!   (a terminal or a pipe given on purpose, such as `-` or `/dev/stdout`, is written as a
//!   stream): see [`output`] for the table and for why a link to a regular file is
//!   refused too.
//! - **Reads never block and never exceed a limit.** A file is looked at, then opened
//!   `O_NONBLOCK` and checked again on the descriptor: only a regular file is read, so a
//!   FIFO with no writer is refused at once instead of hanging forever; a file over the
//!   caller's limit is refused, never truncated ([`read`]).
//! - **rdpshim's own files are never reached through a link** (`O_NOFOLLOW` for profiles
//!   and lock files: a dangling link at a `.lock` path used to create its target, anywhere),
//!   and its private directory must be a real directory of the user's (or root's) that
//!   nobody else can write to ([`Dir::open_private`]).
//!
//! Unix only (`openat`, `O_NOFOLLOW`): rdpshim runs on Linux and macOS.
//! `tests/integration/architecture.rs` checks that nothing else in the workspace opens,
//! creates, renames or removes files.

#[cfg(not(unix))]
compile_error!("rdpshim's file handling needs openat and O_NOFOLLOW (Linux, macOS)");

mod dir;
mod error;
pub mod lookup;
mod open;
pub mod output;
pub mod read;
mod replace;

pub use dir::{Dir, Lock};
pub use error::{DirProblem, FileError, FileKind};
pub use output::{check_user_file, write_user_file, Written};
pub use read::read_user_file;

/// New files only their owner can read: profiles, exports (user name, certificate pin),
/// screenshots (a picture of someone's desktop).
pub const PRIVATE: u32 = 0o600;

/// New files anyone may read (less the umask): CI artefacts such as matrix baselines and
/// JUnit reports, which hold host names and outcomes only.
pub const SHARED: u32 = 0o644;

#[cfg(test)]
mod tests;
