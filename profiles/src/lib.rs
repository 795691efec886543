//! rdpshim's memory of hosts: per-host profiles on disk, `.rdp` files, and exports to other
//! clients.
//!
//! **Architecture invariants** (checkable by reading the imports):
//! - **No network code**: nothing here opens a socket or resolves a name; the client's
//!   engine does, and hands this crate plain values.
//! - **No password**: no type here holds one, [`rdpfile::Property`] cannot be a password
//!   property, and exports never carry one (passwords live in the OS keyring, handled by
//!   the client's secrets module).
//! - **Times are values**: the model takes `now` as an argument; only [`store`] reads the
//!   clock, to name a backup during `repair`.
//! - **No file is written through a symbolic link or outside where the user asked**: all
//!   file I/O is in [`safe_file`] (checked by `tests/integration/architecture.rs`).
//!
//! Code map:
//! - [`model`]: the [`Profile`] and its parts; [`profile_toml`]: TOML text <-> profile.
//! - [`store`]: one TOML file per `host:port`, locked read-modify-write, atomic replace,
//!   broken files kept and never overwritten.
//! - [`safe_file`]: every file read and write (profiles, locks, the client's imports,
//!   exports, baselines, screenshots): atomic, bounded, never through a link.
//! - [`rdpfile`]: `.rdp` bytes <-> text <-> ordered properties <-> profile.
//! - [`export`]: FreeRDP 2/3 command lines and JSON.

pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod profile_toml;
pub mod rdpfile;
pub mod safe_file;
pub mod store;

pub use model::{
    Dial, Gateway, GatewayUsage, OutcomeRecord, PinnedCertificate, Profile, Winning,
    WinningGateway, SCHEMA,
};
pub use store::{ProfileStore, RepairOutcome, RepairReport, StoreError};
