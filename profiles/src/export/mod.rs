//! Profiles in other clients' terms: a FreeRDP command line, JSON. (`.rdp` files are in
//! [`crate::rdpfile`].)

pub mod freerdp;
pub mod json;
pub mod shell_quote;

pub use freerdp::{freerdp_command, FreeRdpCommand, FreeRdpVersion};
pub use json::{profile_from_json, profile_to_json};
