//! `rdpshim generate man|bash|zsh|fish`: the man page and shell completions, generated from
//! the same clap definitions as the parser (nothing to keep in sync by hand).

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use super::args::{Artifact, Cli};

pub fn run(artifact: Artifact) -> ExitCode {
    let mut command = Cli::command();
    let mut out = Vec::new();
    let result = match artifact {
        Artifact::Man => clap_mangen::Man::new(command).render(&mut out),
        Artifact::Bash => {
            clap_complete::generate(
                clap_complete::Shell::Bash,
                &mut command,
                "rdpshim",
                &mut out,
            );
            Ok(())
        }
        Artifact::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut command, "rdpshim", &mut out);
            Ok(())
        }
        Artifact::Fish => {
            clap_complete::generate(
                clap_complete::Shell::Fish,
                &mut command,
                "rdpshim",
                &mut out,
            );
            Ok(())
        }
    };
    match result.and_then(|()| std::io::stdout().write_all(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdpshim: {e}");
            ExitCode::from(super::exit::LOCAL_FILE)
        }
    }
}
