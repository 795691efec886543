//! The ladder's observer for people: a progress line on a terminal, one line per attempt,
//! a warning for every step that gives something up, and the credentials prompt.

use std::io::{IsTerminal as _, Write as _};

use rdpshim::attempt::Credentials;
use rdpshim::ladder::{Observer, Step};
use rdpshim::planner::{Fallback, Knobs};
use rdpshim::secret::{self, PasswordSource};

use super::render;

pub struct Console {
    /// Show the transient progress line.
    progress: bool,
    host: String,
    user: Option<String>,
    domain: Option<String>,
    announced: Vec<Fallback>,
}

impl Console {
    pub fn new(json: bool, host: &str, user: Option<String>, domain: Option<String>) -> Self {
        Self {
            // Only for a person watching: both streams on a terminal, and not `--json`.
            progress: !json && std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
            host: host.to_owned(),
            user,
            domain,
            announced: Vec::new(),
        }
    }

    fn clear_progress(&self) {
        if self.progress {
            eprint!("\r\x1b[2K");
        }
    }
}

impl Observer for Console {
    fn starting(&mut self, number: usize, knobs: &Knobs, fallbacks: &[Fallback]) {
        if number == 1 {
            // A first attempt below the strongest configuration comes from the saved profile
            // or from pinned knobs: announce what it gives up all the same.
            for step in rdpshim::planner::downgrades(knobs) {
                self.announced.push(step);
                if let Some(cost) = step.gives_up() {
                    eprintln!("warning: {step} (saved or pinned configuration): this attempt gives up {cost}");
                }
            }
        }
        for step in fallbacks {
            if self.announced.contains(step) {
                continue;
            }
            self.announced.push(*step);
            if let Some(cost) = step.gives_up() {
                eprintln!("warning: {step}: this attempt gives up {cost}");
            }
        }
        if self.progress {
            eprint!("{}", render::progress_line(number, knobs, fallbacks));
            let _ = std::io::stderr().flush();
        }
    }

    fn finished(&mut self, step: &Step) {
        self.clear_progress();
        eprintln!("{}", render::attempt_line(step));
    }

    fn credentials(&mut self) -> Option<Credentials> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        self.clear_progress();
        eprintln!("{} requires Network Level Authentication.", self.host);
        let user = match &self.user {
            Some(user) => user.clone(),
            None => {
                eprint!("User for {}: ", self.host);
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
        let who = format!("{user}@{}", self.host);
        let password = secret::read_password(PasswordSource::Prompt, &who).ok()?;
        Some(Credentials {
            username: user,
            domain: self.domain.clone(),
            password,
        })
    }
}
