//! `rdpshim generate man|bash|zsh|fish`: the man page and shell completions, generated from
//! the same clap definitions as the parser (nothing to keep in sync by hand).

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use super::args::{Artifact, Cli};

/// clap's completion script for `shell`, with saved hosts for HOST arguments
/// ([`super::complete_hosts`]).
fn completion(
    shell: clap_complete::Shell,
    command: &mut clap::Command,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    clap_complete::generate(shell, command, "rdpshim", out);
    super::complete_hosts::extend(shell, command, out);
    Ok(())
}

pub fn run(artifact: Artifact) -> ExitCode {
    let mut command = Cli::command();
    let mut out = Vec::new();
    let result = match artifact {
        Artifact::Man => clap_mangen::Man::new(command).render(&mut out),
        Artifact::Bash => completion(clap_complete::Shell::Bash, &mut command, &mut out),
        Artifact::Zsh => completion(clap_complete::Shell::Zsh, &mut command, &mut out),
        Artifact::Fish => completion(clap_complete::Shell::Fish, &mut command, &mut out),
    };
    match result.and_then(|()| std::io::stdout().write_all(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdpshim: {e}");
            ExitCode::from(super::exit::LOCAL_FILE)
        }
    }
}
