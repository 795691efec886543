//! `rdpshim open` where the client cannot be told what the server needs
//! ([`Expressible::NeedsBridge`](super::Expressible::NeedsBridge): an `.rdp` file or
//! Remmina and a TLS 1.0-only server): the bridge carries the connection in-process, on
//! loopback, and the client is started pointed at it.
//!
//! The client gets the bridge's client leg ([`Ready::client_profile`]: modern TLS with the
//! bridge's own certificate pinned, NLA exactly when the bridge makes the client prove an
//! account: the server leg uses NLA, or the server is reached through an RD Gateway), and
//! the account to prove ([`Bridge::client_account`](crate::bridge::Bridge::client_account):
//! the host's, or the gateway's in front of a server without NLA), through the same
//! [`launch::plan`] as a direct `open`, so the same rules hold: the password, when NLA
//! needs one, on FreeRDP's standard input, never argv; the file for Remmina or Windows App
//! in the private runtime directory. The bridge checks that password before it uses its own
//! (the bridge's invariant), so the client proves the credentials it was handed.
//!
//! The bridge lives exactly as long as the client: [`carry`] serves sessions until the
//! client exits (its status is `open`'s) or an interrupt, which ends the client too.

use std::future::Future;
use std::io;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use rdpshim_profiles::Profile;

use super::client::Client;
use super::launch::{self, Plan};
use crate::attempt::Credentials;
use crate::bridge::{Bridge, Events, Ready, SessionRecord, Stopped};

/// How often [`carry`] looks whether the client has exited: a closed client's bridge is
/// gone within this (the client's own session already ended when its socket closed).
const CLIENT_POLL: Duration = Duration::from_millis(100);

/// The command for `client` to reach the bridge described by `ready`, as `credentials`'
/// user. The file written for Remmina or Windows App is named after `server`, the real
/// server's profile (the bridge's port changes from run to run; the next `open` of the
/// host replaces the file).
pub fn plan(
    client: &Client,
    ready: &Ready,
    server: &Profile,
    credentials: Option<&Credentials>,
) -> Plan {
    let mut plan = launch::plan(client, &ready.client_profile, credentials);
    // The certificate a client asks about is the bridge's, whose fingerprint the ready
    // block shows (not the server's, which `profile show` has).
    for note in &mut plan.notes {
        *note = note.replace(
            "`rdpshim profile show`",
            "the bridge's certificate SHA-256 above",
        );
    }
    if let Some((name, _)) = &mut plan.file {
        let extension = name.rsplit_once('.').map_or("", |(_, e)| e).to_owned();
        *name = format!("{}-bridge.{extension}", launch::file_stem(server));
    }
    plan
}

/// How the bridged client ended.
#[derive(Debug)]
pub struct Carried {
    /// The client's exit status; `None` when an interrupt ended it first (it was then
    /// killed).
    pub status: Option<io::Result<ExitStatus>>,
    pub stopped: Stopped,
    pub records: Vec<SessionRecord>,
}

/// Serves `bridge` until `client` exits or `interrupt` resolves (then the client is killed
/// and reaped: a bridge that stops leaves no client pointed at nothing).
pub async fn carry(
    bridge: Bridge,
    mut client: Child,
    events: &mut dyn Events,
    interrupt: impl Future<Output = ()>,
) -> Carried {
    let mut status = None;
    let stop = async {
        tokio::select! {
            exited = exit_of(&mut client) => status = Some(exited),
            () = interrupt => {}
        }
    };
    let (stopped, records) = bridge.serve(events, stop).await;
    if status.is_none() {
        let _ = client.kill();
        let _ = client.wait();
    }
    Carried {
        status,
        stopped,
        records,
    }
}

/// The client's exit, polled (its `wait` would block the thread the bridge runs on).
async fn exit_of(client: &mut Child) -> io::Result<ExitStatus> {
    loop {
        if let Some(status) = client.try_wait()? {
            return Ok(status);
        }
        tokio::time::sleep(CLIENT_POLL).await;
    }
}
