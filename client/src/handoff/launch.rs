//! Starting the user's client with a working configuration: the command line and files for
//! each kind ([`plan`], pure), then the process ([`start`]).
//!
//! The password goes to FreeRDP on its standard input, through `/from-stdin:force`, which
//! makes FreeRDP read it (one line) before it connects (checked with 2.11: the right
//! password connects, a wrong one fails at NLA). Never in argv, which every local user
//! reads with `ps`, and never in the child's environment (FreeRDP reads no password
//! variable anyway; `RDPSHIM_PASSWORD`, if rdpshim got the password that way, is removed
//! from what the child inherits). FreeRDP reads a user name from stdin too when `/u:` is
//! missing, so `/u:` is always given with the password. Remmina and Windows App cannot take
//! a password from another program: they ask.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use rdpshim_profiles::export::freerdp_command;
use rdpshim_profiles::rdpfile::{self, OutputFormat};
use rdpshim_profiles::safe_file::{self, Dir, FileError};
use rdpshim_profiles::Profile;

use super::client::Client;
use super::express::gaps;
use super::freerdp_version::VersionSource;
use super::remmina::remmina_file;
use crate::attempt::Credentials;
use crate::secret::PASSWORD_ENV;

/// One argument of the command: text, or the path of the file written for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    File,
}

/// What `open` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What is executed.
    pub program: PathBuf,
    /// The first word of the command as shown to people (`xfreerdp`, `remmina`, `open`).
    pub shown_as: String,
    pub args: Vec<Arg>,
    /// A file written for the client first (`NAME`, its bytes), in rdpshim's private
    /// runtime directory; [`Arg::File`] is its path.
    pub file: Option<(String, Vec<u8>)>,
    /// Write the password to the client's standard input.
    pub password_on_stdin: bool,
    /// For people: what the client cannot be told, what it will ask.
    pub notes: Vec<String>,
}

/// The command for `client` to open `profile`'s working configuration as `credentials`'
/// user (the password goes along only when the configuration uses NLA: a TLS-only server
/// shows its own logon screen, as the ladder saw it).
pub fn plan(client: &Client, profile: &Profile, credentials: Option<&Credentials>) -> Plan {
    let nla = profile.winning.as_ref().is_none_or(|w| w.nla);
    let (user, domain) = match credentials {
        Some(c) => (Some(c.username.as_str()), c.domain.as_deref()),
        None => (profile.username.as_deref(), profile.domain.as_deref()),
    };
    let mut notes: Vec<String> = gaps(client.target(), &super::express::Needs::of(profile))
        .into_iter()
        .filter(|g| !g.blocks)
        .map(|g| g.what)
        .collect();
    let name = file_stem(profile);
    match client {
        Client::FreeRdp {
            name: shown,
            path,
            version,
            version_source,
        } => {
            let mut profile = profile.clone();
            if let Some(user) = user {
                profile.username = Some(user.to_owned());
                profile.domain = domain.map(str::to_owned);
            }
            let command = freerdp_command(&profile, *version);
            // The export's notes speak of FreeRDP asking for the password; `open` may hand it.
            notes.extend(
                command
                    .notes
                    .into_iter()
                    .filter(|n| !n.starts_with("no password on the command line")),
            );
            if *version_source == VersionSource::Assumed {
                notes.push(format!(
                    "could not tell which FreeRDP {shown} is (no version from `{shown} --version`, \
                     its libraries or its name): using FreeRDP 3's options"
                ));
            }
            let password_on_stdin = nla && credentials.is_some() && user.is_some();
            let mut args: Vec<Arg> = command.argv.into_iter().skip(1).map(Arg::Text).collect();
            if password_on_stdin {
                args.push(Arg::Text("/from-stdin:force".into()));
            }
            Plan {
                program: path.clone(),
                shown_as: shown.clone(),
                args,
                file: None,
                password_on_stdin,
                notes,
            }
        }
        Client::Remmina { path } => {
            if nla {
                notes.push(
                    "Remmina asks for the password (it takes none from other programs)".into(),
                );
            }
            Plan {
                program: path.clone(),
                shown_as: "remmina".into(),
                args: vec![Arg::Text("-c".into()), Arg::File],
                file: Some((
                    format!("{name}.remmina"),
                    remmina_file(profile, user, domain).into_bytes(),
                )),
                password_on_stdin: false,
                notes,
            }
        }
        // Built everywhere (the plan is data, tested on Linux); only found, and so started,
        // on macOS (`client::find`).
        Client::WindowsApp => {
            let mut profile = profile.clone();
            if let Some(user) = user {
                profile.username = Some(user.to_owned());
                profile.domain = domain.map(str::to_owned);
            }
            let (bytes, warnings) = rdpfile::export_bytes(&profile, OutputFormat::MSTSC);
            notes.extend(warnings);
            if nla {
                notes.push("Windows App asks for the password (or uses its own saved one)".into());
            }
            Plan {
                program: PathBuf::from("/usr/bin/open"),
                shown_as: "open".into(),
                args: vec![Arg::File],
                file: Some((format!("{name}.rdp"), bytes)),
                password_on_stdin: false,
                notes,
            }
        }
    }
}

/// A file name for `profile` in the runtime directory: `open-HOST_PORT` with anything but
/// letters, digits, `.` and `-` as `_` (an IPv6 literal's `:` too).
pub(super) fn file_stem(profile: &Profile) -> String {
    let host: String = profile
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    format!("open-{}_{}", host.trim_start_matches('.'), profile.port)
}

impl Plan {
    /// The command line for people, the file's path in place of [`Arg::File`]. (Shown with
    /// the password stated as going to standard input; it is never in the line.)
    pub fn shown(&self, file: Option<&std::path::Path>) -> String {
        let mut words = vec![self.shown_as.clone()];
        words.extend(self.args.iter().map(|a| match a {
            Arg::Text(text) => text.clone(),
            Arg::File => file.map_or_else(|| "FILE".to_owned(), |p| p.display().to_string()),
        }));
        rdpshim_profiles::export::shell_quote::join(&words)
    }
}

/// Why the client did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("writing the file for the client: {0}")]
    File(#[from] FileError),
    #[error("starting {program}: {error}")]
    Spawn { program: String, error: io::Error },
}

/// A started client, and the file written for it (left in place: the client may read it
/// after rdpshim exits; it holds no password, and the next `open` of the host replaces it).
pub struct Started {
    pub child: Child,
    pub file: Option<PathBuf>,
    /// Writing the password to the client failed (it had already exited?): the client's
    /// own exit status says what happened.
    pub password_error: Option<io::Error>,
}

/// Writes the plan's file and starts the client; the password (when the plan says so) is
/// written to its standard input, which is then closed.
pub fn start(plan: &Plan, credentials: Option<&Credentials>) -> Result<Started, LaunchError> {
    let file = match &plan.file {
        Some((name, bytes)) => {
            let dir = Dir::open_runtime()?;
            dir.replace(name, bytes, safe_file::PRIVATE)?;
            Some(dir.join(name))
        }
        None => None,
    };
    let args: Vec<String> = plan
        .args
        .iter()
        .map(|a| match a {
            Arg::Text(text) => text.clone(),
            Arg::File => file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        })
        .collect();
    let password = credentials
        .map(|c| &c.password)
        .filter(|_| plan.password_on_stdin);
    let mut command = Command::new(&plan.program);
    command.args(&args).env_remove(PASSWORD_ENV);
    if password.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().map_err(|error| LaunchError::Spawn {
        program: plan.program.display().to_string(),
        error,
    })?;
    let mut password_error = None;
    if let (Some(password), Some(mut stdin)) = (password, child.stdin.take()) {
        password_error = password.write_line_to(&mut stdin).err();
        drop(stdin);
    }
    Ok(Started {
        child,
        file,
        password_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::test_profiles::tls10;
    use crate::secret::Password;
    use rdpshim_profiles::export::FreeRdpVersion;
    use rdpshim_profiles::model::Dial;

    fn profile(nla: bool) -> Profile {
        tls10("srv", Dial::Name, "127.0.0.1:3390", nla)
    }

    fn xfreerdp() -> Client {
        Client::FreeRdp {
            name: "xfreerdp".into(),
            path: "/usr/bin/xfreerdp".into(),
            version: FreeRdpVersion::V2,
            version_source: VersionSource::VersionFlag,
        }
    }

    fn alice() -> Credentials {
        Credentials {
            username: "alice".into(),
            domain: Some("CORP".into()),
            password: Password::new("s3cret"),
        }
    }

    #[test]
    fn freerdp_gets_the_user_on_the_line_and_the_password_on_stdin() {
        let creds = alice();
        let plan = plan(&xfreerdp(), &profile(true), Some(&creds));
        let line = plan.shown(None);
        assert!(plan.password_on_stdin);
        assert_eq!(
            line,
            "xfreerdp /v:srv:3390 /u:alice /d:CORP /sec:nla /tls-seclevel:0 /cert:tofu /from-stdin:force"
        );
        assert!(!line.contains("s3cret"));
        assert!(
            plan.notes.iter().all(|n| !n.contains("asks for it")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn no_password_for_a_tls_only_server_or_without_one() {
        let creds = alice();
        let tls_only = plan(&xfreerdp(), &profile(false), Some(&creds));
        assert!(!tls_only.password_on_stdin);
        assert!(!tls_only.shown(None).contains("/from-stdin"));
        let none = plan(&xfreerdp(), &profile(true), None);
        assert!(!none.password_on_stdin);
    }

    #[test]
    fn remmina_gets_a_file() {
        let remmina = Client::Remmina {
            path: "/usr/bin/remmina".into(),
        };
        let plan = plan(&remmina, &profile(false), None);
        let (name, bytes) = plan.file.clone().unwrap();
        assert_eq!(name, "open-srv_3390.remmina");
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("security=tls\n") && text.contains("tls-seclevel=0\n"),
            "{text}"
        );
        assert_eq!(
            plan.shown(Some(std::path::Path::new("/run/user/0/rdpshim/x.remmina"))),
            "remmina -c /run/user/0/rdpshim/x.remmina"
        );
    }

    #[test]
    fn windows_app_gets_an_rdp_file_opened_by_macos() {
        let creds = alice();
        let plan = plan(&Client::WindowsApp, &profile(true), Some(&creds));
        assert!(!plan.password_on_stdin);
        assert_eq!(plan.program, PathBuf::from("/usr/bin/open"));
        assert_eq!(plan.args, [Arg::File]);
        let (name, bytes) = plan.file.clone().unwrap();
        assert_eq!(name, "open-srv_3390.rdp");
        assert_eq!(&bytes[..2], &[0xff, 0xfe], "UTF-16LE as mstsc writes it");
        let text: String = char::decode_utf16(
            bytes[2..]
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]])),
        )
        .map(|c| c.unwrap_or('?'))
        .collect();
        assert!(text.contains("username:s:alice"), "{text}");
        assert!(!text.contains("s3cret"));
        assert!(plan
            .notes
            .iter()
            .any(|n| n.contains("asks for the password")));
    }

    #[test]
    fn file_names_stay_in_the_directory() {
        let mut p = profile(false);
        p.host = "../../etc/x".into();
        assert_eq!(file_stem(&p), "open-_.._etc_x_3390");
        p.host = "::1".into();
        assert_eq!(file_stem(&p), "open-__1_3390");
    }
}
