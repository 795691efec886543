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
    announced: Vec<Fallback>,
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
    /// Warns once per run about each step that gives something up (`-q` leaves it to the
    /// verdict line, which names every fallback).
    fn announce(&mut self, step: Fallback, why: &str) {
        if self.announced.contains(&step) {
            return;
        }
        self.announced.push(step);
        if let Some(cost) = step.gives_up() {
            self.clear_progress();
            say(&format!(
                "warning: {step}{why}: this attempt gives up {cost}"
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
                self.announce(*step, " (saved or pinned configuration)");
            }
        }
        for step in fallbacks.iter().filter(|s| sure.contains(s)) {
            self.announce(*step, "");
        }
        if self.progress {
            eprint!("{}", render::progress_line(number, knobs, fallbacks));
            let _ = std::io::stderr().flush();
        }
    }

    fn secured(&mut self, _number: usize, used: &Knobs) {
        let why = format!(" (the server chose: {})", escape(&describe(used)));
        for step in rdpshim::planner::downgrades(used) {
            self.announce(step, &why);
        }
    }

    fn finished(&mut self, step: &Step) {
        self.clear_progress();
        say(&render::attempt_line(step));
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
        if !std::io::stdin().is_terminal() {
            return None;
        }
        self.clear_progress();
        eprintln!("{} requires Network Level Authentication.", escape(host));
        let user = match user {
            Some(user) => user.to_owned(),
            None => {
                eprint!("User for {}: ", escape(host));
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
