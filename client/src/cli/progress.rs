//! The terminal as the session's frontend: a progress line on a terminal, one line per
//! attempt, a warning for every step that gives something up, the session's notices, and
//! the questions (password, user name) asked on the terminal when there is one.

use std::io::{IsTerminal as _, Write as _};

use rdpshim::ladder::{Observer, Step};
use rdpshim::planner::{describe, Fallback, Knobs};
use rdpshim::secret::{self, Password, PasswordError, PasswordSource};
use rdpshim::session::{Frontend, Notice};
use rdpshim::terminal::escape;

use super::{render, style};

pub struct Console {
    /// Show the transient progress line.
    progress: bool,
    /// `--json`: stdout is for the JSON; notes that only explain are left out.
    json: bool,
    /// Steps announced, with the leg (`true`: the RD Gateway's), each once.
    announced: Vec<(Fallback, bool)>,
    /// The knobs of the attempt before, to tell which leg a TLS downgrade is on.
    last: Option<Knobs>,
}

impl Console {
    pub fn new(json: bool) -> Self {
        Self {
            // Only for a person watching: both streams on a terminal that understands cursor
            // control, and not `--json` or `-q`.
            progress: !json
                && !style::quiet()
                && style::cursor_control(std::io::stderr().is_terminal())
                && std::io::stdout().is_terminal(),
            json,
            announced: Vec::new(),
            last: None,
        }
    }

    fn clear_progress(&self) {
        if self.progress {
            eprint!("\r\x1b[2K");
        }
    }
}

/// A line for a person on stderr (`warning:`/`note:` coloured), unless `-q`.
pub fn say(line: &str) {
    if !style::quiet() {
        eprintln!("{}", style::err().prefixed(line));
    }
}

impl Console {
    /// Warns once per run about each step that gives something up, on each leg (`-q` leaves
    /// it to the verdict line, which names every fallback).
    fn announce(&mut self, step: Fallback, gateway_leg: bool, why: &str) {
        if self.announced.contains(&(step, gateway_leg)) {
            return;
        }
        self.announced.push((step, gateway_leg));
        if let Some(cost) = step.gives_up() {
            self.clear_progress();
            say(&format!(
                "warning: {step}{}{why}: this attempt gives up {cost}",
                leg_words(gateway_leg)
            ));
        }
    }
}

impl Observer for Console {
    fn starting(&mut self, number: usize, knobs: &Knobs, fallbacks: &[Fallback]) {
        // What these knobs are sure to give up is announced now; what an offer leaves to
        // the server (mstsc's offer, the legacy hello) once it has chosen (`secured`).
        let sure = rdpshim::planner::downgrades(knobs);
        if number == 1 {
            // A first attempt below the strongest configuration comes from the saved profile
            // or from pinned knobs: announce what it gives up all the same.
            for step in &sure {
                let leg = on_gateway_leg(*step, None, knobs);
                self.announce(*step, leg, " (saved or pinned configuration)");
            }
        }
        // A step whose cost depends on what the server chooses waits for `secured`; the
        // rest (going around or through a gateway, its transport, UDP) are sure now.
        let uncertain = |s: &Fallback| {
            matches!(
                s,
                Fallback::NlaOff | Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade
            ) && !sure.contains(s)
        };
        for step in fallbacks.iter().filter(|s| !uncertain(s)) {
            let leg = on_gateway_leg(*step, self.last.as_ref(), knobs);
            self.announce(*step, leg, "");
        }
        self.last = Some(knobs.clone());
        if self.progress {
            eprint!("{}", render::progress_line(number, knobs, fallbacks));
            let _ = std::io::stderr().flush();
        }
    }

    fn secured(&mut self, _number: usize, used: &Knobs) {
        let why = format!(" (the server chose: {})", escape(&describe(used)));
        for step in rdpshim::planner::downgrades(used) {
            let leg = on_gateway_leg(step, None, used);
            self.announce(step, leg, &why);
        }
    }

    fn finished(&mut self, step: &Step) {
        self.clear_progress();
        say(&render::attempt_line(step));
    }
}

/// Whether a TLS downgrade is the RD Gateway's (its TLS changed from `before`, or for a
/// first attempt, it is not the modern one) rather than the RDP leg's.
fn on_gateway_leg(step: Fallback, before: Option<&Knobs>, now: &Knobs) -> bool {
    if !matches!(
        step,
        Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade
    ) {
        return false;
    }
    let Some(via) = now.route.gateway() else {
        return false;
    };
    match before {
        Some(before) => before.tls == now.tls && before.route.gateway() != Some(via),
        None => !rdpshim::planner::downgrades(&Knobs {
            route: rdpshim::planner::Route::Direct,
            ..now.clone()
        })
        .contains(&step),
    }
}

fn leg_words(gateway: bool) -> &'static str {
    if gateway {
        " (the RD Gateway's TLS)"
    } else {
        ""
    }
}

impl Frontend for Console {
    fn notice(&mut self, notice: &Notice) {
        let line = match notice {
            Notice::NoProfileDirectory(e) => {
                format!("note: no profile directory ({e}); nothing is saved")
            }
            Notice::ProfileUnreadable { host, port, error } => format!(
                "warning: {error} (`rdpshim profile repair {host}:{port}`); connecting without the saved profile"
            ),
            Notice::ProfileNotSaved(e) => format!("warning: the profile was not saved: {e}"),
            Notice::KeyringUnavailable(_) if self.json => return,
            Notice::KeyringUnavailable(why) => format!(
                "note: {why}; passwords are not saved and will be asked for each time"
            ),
            Notice::KeyringReadFailed { store, error } => {
                format!("note: reading the password from the {store}: {error}")
            }
            Notice::PasswordSaved { user, host, store } => {
                format!("saved the password for {user}@{host} in the {store}")
            }
            Notice::PasswordNotSaved(e) => format!("note: the password was not saved: {e}"),
            Notice::NoPassword { user } => format!(
                "note: no password for {user} (--password-stdin, RDPSHIM_PASSWORD or the keyring); \
                 NLA cells of those hosts end as credentials-required"
            ),
        };
        self.clear_progress();
        say(&escape(&line));
    }

    fn ask_password(&mut self, who: &str) -> Option<Result<Password, PasswordError>> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        self.clear_progress();
        Some(secret::read_password(PasswordSource::Prompt, who))
    }

    fn ask_credentials(&mut self, host: &str, user: Option<&str>) -> Option<(String, Password)> {
        let why = format!("{} requires Network Level Authentication.", escape(host));
        self.ask_account(&why, &escape(host), host, user)
    }

    fn ask_gateway_credentials(
        &mut self,
        gateway: &str,
        user: Option<&str>,
    ) -> Option<(String, Password)> {
        let why = format!("The RD Gateway {} requires credentials.", escape(gateway));
        let whose = format!("the RD Gateway {}", escape(gateway));
        self.ask_account(&why, &whose, gateway, user)
    }
}

impl Console {
    /// Says `why`, asks the user name for `whose` unless `user` is known, then the password
    /// for `user@host`; `None` without a terminal or a name.
    fn ask_account(
        &mut self,
        why: &str,
        whose: &str,
        host: &str,
        user: Option<&str>,
    ) -> Option<(String, Password)> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        self.clear_progress();
        eprintln!("{why}");
        let user = match user {
            Some(user) => user.to_owned(),
            None => {
                eprint!("User for {whose}: ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).ok()?;
                let user = line.trim().to_owned();
                if user.is_empty() {
                    return None;
                }
                user
            }
        };
        let password =
            secret::read_password(PasswordSource::Prompt, &format!("{user}@{host}")).ok()?;
        Some((user, password))
    }
}
