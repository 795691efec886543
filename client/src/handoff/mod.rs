//! Handing a working configuration to the user's own RDP client: `rdpshim open`, the
//! "open with" line after `connect`, and the client-aware exports.
//!
//! - [`client`]: the clients rdpshim knows (FreeRDP, Remmina, Windows App), the order it
//!   looks for them in, finding them on `PATH`;
//! - [`freerdp_version`]: FreeRDP 2 or 3 (their options are spelled differently);
//! - [`express`]: what a client can express of a configuration, the one decision between
//!   starting it and saying it cannot reach the server ([`express::what_client_can_express`]);
//! - [`remmina`]: the `.remmina` file;
//! - [`launch`]: the command, the file and the password on the client's standard input;
//! - [`bridged`]: where the client cannot express the configuration, the client pointed at
//!   an in-process bridge (`rdpshim bridge`) that lives as long as the client.
//!
//! The configuration comes from the session ([`crate::session::Outcome::configuration`]):
//! the profile as the run recorded it, so `open` hands over exactly what the ladder proved.

pub mod bridged;
pub mod client;
pub mod express;
pub mod freerdp_version;
pub mod launch;
pub mod remmina;

#[cfg(test)]
mod test_profiles;

pub use client::{Client, Environment, Named};
pub use express::{what_client_can_express, Expressible, Needs, Target};
