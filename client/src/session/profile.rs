//! A session and the host's saved profile: read it before the run (a profile that cannot be
//! read is reported and left alone), start the request from it, and record the run in it
//! afterwards. The conversions themselves are [`super::saved`].

use rdpshim_profiles::store::timestamp::now_rfc3339;
use rdpshim_profiles::{Profile, ProfileStore, StoreError};

use super::frontend::{Frontend, Notice};
use super::saved;
use super::ConnectRequest;
use crate::ladder::Run;

/// The default profile store, or `None` (with a notice) when there is no profile directory.
pub fn open_store(frontend: &mut dyn Frontend) -> Option<ProfileStore> {
    match ProfileStore::open_default() {
        Ok(store) => Some(store),
        Err(error) => {
            frontend.notice(&Notice::NoProfileDirectory(error));
            None
        }
    }
}

/// The saved profile of `host:port`; `None` when there is none, or (with a notice) when it
/// cannot be read: never fatal, and the file is left as it is.
pub fn load(
    store: &ProfileStore,
    host: &str,
    port: u16,
    frontend: &mut dyn Frontend,
) -> Option<Profile> {
    match store.load(host, port) {
        Ok(profile) => profile,
        Err(error) => {
            frontend.notice(&Notice::ProfileUnreadable {
                host: host.to_owned(),
                port,
                error,
            });
            None
        }
    }
}

/// Starts `request` from `profile`: its configuration first, its strength defended and its
/// addresses known (the planner ignores these for a single attempt), its certificate pinned
/// (unless the request accepts a new one), its user and domain where the request has none.
pub fn apply(profile: &Profile, request: &mut ConnectRequest) {
    request.ladder.policy.start_from(saved::remembered(profile));
    if !request.accept_new_cert {
        request.ladder.pinned_certificate = profile.certificate.as_ref().map(|c| c.sha256.clone());
    }
    if request.user.is_none() {
        request.user.clone_from(&profile.username);
    }
    if request.domain.is_none() {
        request.domain.clone_from(&profile.domain);
    }
}

/// Records a finished run: a success in the profile (a fresh one when there was none), a
/// failure only in a profile that exists (a failure never creates one). The profile as
/// saved, or `None` when nothing was written.
pub fn record(
    store: &ProfileStore,
    host: &str,
    port: u16,
    run: &Run,
    had_profile: bool,
    accept_new_cert: bool,
) -> Result<Option<Profile>, StoreError> {
    let now = now_rfc3339();
    match &run.result {
        Ok(success) => {
            let credentials = run.credentials.as_ref();
            let nla = run.steps.last().is_some_and(|s| s.knobs.nla);
            let record = saved::SuccessRecord {
                run,
                success,
                username: credentials.map(|c| c.username.clone()).filter(|_| nla),
                domain: credentials.and_then(|c| c.domain.clone()),
                accept_new_cert,
                now: &now,
            };
            store
                .update(host, port, |old| {
                    saved::record_success(old, host, port, &record)
                })
                .map(Some)
        }
        Err(_) if had_profile => store
            .update(host, port, |old| match old {
                Some(profile) => saved::record_failure(profile, run, &now),
                None => Profile::new(host, port, &now),
            })
            .map(Some),
        Err(_) => Ok(None),
    }
}
