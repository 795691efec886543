//! `rdpshim bridge`: the user's own RDP client reaches the server through rdpshim, over the
//! configuration the ladder found.
//!
//! The client leg speaks modern RDP (TLS 1.3/1.2 with rustls and the bridge's own
//! certificate, NLA when the server needs credentials); the server leg is the engine's
//! ([`crate::engine::server_leg`]), with whatever stack, version, suites and NLA setting
//! connected. After the security handshakes the session flows unchanged in both directions,
//! except the two GCC fields the separate negotiations make wrong ([`gcc`]), and the
//! multitransport advertisement, which is removed (the bridge carries TCP only).
//!
//! Invariants (ARCHITECTURE.md, checked by tests):
//! - **The bridge never gives anyone a session they could not get without it.** A server
//!   leg with NLA is used only after the client proved, with CredSSP toward the bridge,
//!   the same user name and password the bridge holds ([`client_credssp`]); a wrong
//!   password is refused although the bridge holds the right one. A server leg without NLA
//!   gets no credentials from the bridge: the client leg is TLS only and the user logs on
//!   at the server's own login screen.
//! - **Listening is loopback unless asked**: the CLI binds 127.0.0.1 unless `--listen`
//!   names another address, and then says so loudly.
//! - **Bounded**: every read before the splice is capped and under a stage time limit; the
//!   splice holds two fixed buffers ([`splice`]).
//!
//! Files: [`identity`] (the bridge's own certificate), [`protocols`] (which protocol each
//! leg uses: pure), [`client_leg`] (X.224 and TLS toward the client), [`client_credssp`]
//! (CredSSP as a server, the credential check), [`gcc`] (the Connect Initial/Response
//! rewrites), [`splice`] (both directions until either side ends), [`session`] (one
//! session, in order), [`listener`] (accepting, limits, Ctrl-C), [`record`] (the session
//! log), [`client_files`] (the `.rdp` file and FreeRDP line for the bridge).

pub mod client_credssp;
pub mod client_files;
pub mod client_leg;
pub mod gcc;
pub mod identity;
pub mod listener;
pub mod protocols;
pub mod record;
pub mod session;
pub mod splice;

use crate::attempt::{AttemptSpec, DialTarget, StageTimeouts, TlsChoice};
use crate::ladder::Step;

pub use identity::Identity;

/// Everything a session needs: how to reach the server, and what to show the client.
pub struct BridgeConfig {
    /// The server leg's configuration (see [`server_leg_spec`]).
    pub server: AttemptSpec,
    pub identity: Identity,
}

/// The server leg's configuration from the attempt that connected: its knobs; the address
/// it reached (every session dials what worked, whatever DNS answers next; the server
/// name for TLS and CredSSP stays the same); the TLS version it negotiated, pinned (the
/// bridge carries the configuration it announced, not whatever "auto" gives later); the
/// certificate it saw, pinned (a different one ends the leg before anything is sent); the
/// credentials only when NLA was used; `timeouts` per stage; no screenshot.
pub fn server_leg_spec(winner: &Step, timeouts: StageTimeouts) -> AttemptSpec {
    let mut spec = winner.spec.clone();
    let report = &winner.report;
    if let Some(address) = report.address {
        spec.dial = DialTarget::Address(address);
        if spec.server_name.is_none() {
            spec.server_name = Some(spec.host.clone());
        }
    }
    if let Some(tls) = &report.tls {
        spec.tls = TlsChoice {
            stack: tls.stack,
            version: Some(tls.version),
            ciphers: spec.tls.ciphers.clone(),
        };
    }
    if let Some(certificate) = &report.certificate {
        spec.pinned_certificate = Some(certificate.sha256.clone());
    }
    if !spec.nla {
        spec.credentials = None;
    }
    spec.timeouts = timeouts;
    spec.screenshot = None;
    spec
}
