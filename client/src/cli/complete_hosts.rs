//! Saved hosts in shell completion: every `HOST[:PORT]` argument (the ones marked
//! `ValueHint::Hostname` in `args.rs`/`flags.rs`) completes the names of saved profiles,
//! which `rdpshim profile list --names` prints. clap_complete writes static scripts; this
//! adds the one dynamic part to each, from the same clap definitions:
//!
//! - bash: a wrapper around clap's `_rdpshim` that works out, from the line, which
//!   subcommand is being completed and whether the word is a HOST position (not an option,
//!   not an option's value, not a second host where one is taken), then adds the saved
//!   names. The line is split on whitespace by the wrapper itself, so `HOST:PORT` is one
//!   word even though bash's `COMP_WORDBREAKS` splits at `:` (the `:` prefix is trimmed
//!   from the candidates as bash-completion's `__ltrim_colon_completions` does);
//! - zsh: clap completes a hostname argument with `_hosts`; that action becomes
//!   `_rdpshim_saved_hosts`, which offers the saved names, then `_hosts`;
//! - fish: one `complete` line per subcommand with a HOST argument.

use clap::{Command, ValueHint};
use clap_complete::Shell;

/// Adds the saved-hosts completion to `script`, clap_complete's script for `shell`.
pub fn extend(shell: Shell, command: &mut Command, script: &mut Vec<u8>) {
    command.build();
    let name = command.get_name().to_owned();
    let commands = host_commands(command);
    match shell {
        Shell::Bash => script.extend_from_slice(bash(&name, command, &commands).as_bytes()),
        Shell::Zsh => {
            let text = String::from_utf8_lossy(script).into_owned();
            let function = zsh(&name);
            let text = text
                .replace(":_hosts'", &format!(":_{name}_saved_hosts'"))
                .replacen(
                    &format!("#compdef {name}\n"),
                    &format!("#compdef {name}\n{function}"),
                    1,
                );
            *script = text.into_bytes();
        }
        Shell::Fish => script.extend_from_slice(fish(&name, &commands).as_bytes()),
        _ => {}
    }
}

/// A subcommand with a `HOST[:PORT]` positional: its path below the binary and whether it
/// takes several hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostCommand {
    path: Vec<String>,
    many: bool,
}

fn host_commands(root: &Command) -> Vec<HostCommand> {
    let mut found = Vec::new();
    let mut stack: Vec<(Vec<String>, &Command)> = vec![(Vec::new(), root)];
    while let Some((path, command)) = stack.pop() {
        let host = command
            .get_positionals()
            .find(|a| a.get_value_hint() == ValueHint::Hostname);
        if let Some(arg) = host {
            found.push(HostCommand {
                path: path.clone(),
                many: arg.get_num_args().is_some_and(|n| n.max_values() > 1),
            });
        }
        for sub in command.get_subcommands() {
            let mut sub_path = path.clone();
            sub_path.push(sub.get_name().to_owned());
            stack.push((sub_path, sub));
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// Options of `command` that take a value (`--user alice`), long and short forms.
fn value_options(command: &Command) -> Vec<String> {
    let mut options = Vec::new();
    for arg in command.get_arguments() {
        if arg.is_positional() || !arg.get_action().takes_values() {
            continue;
        }
        if let Some(long) = arg.get_long() {
            options.push(format!("--{long}"));
        }
        if let Some(short) = arg.get_short() {
            options.push(format!("-{short}"));
        }
    }
    options
}

fn bash(name: &str, root: &Command, commands: &[HostCommand]) -> String {
    // Every subcommand path, so `path` follows the line down (`profile` then `show`), with
    // the options that take a value at that level.
    let mut paths = String::new();
    let mut stack: Vec<(String, &Command)> = vec![(String::new(), root)];
    let mut levels = Vec::new();
    while let Some((path, command)) = stack.pop() {
        levels.push((path.clone(), value_options(command).join(" ")));
        for sub in command.get_subcommands() {
            stack.push((format!("{path}/{}", sub.get_name()), sub));
        }
    }
    levels.sort();
    for (path, takes) in &levels {
        if path.is_empty() {
            continue;
        }
        let (parent, child) = path.rsplit_once('/').unwrap_or(("", path));
        paths.push_str(&format!(
            "            \"{parent}/{child}\") path=\"{path}\"; takes=\"{takes}\" ;;\n"
        ));
    }
    let root_takes = value_options(root).join(" ");
    let host_paths = |many: bool| {
        commands
            .iter()
            .filter(|c| c.many == many)
            .map(|c| format!("\"/{}\"", c.path.join("/")))
            .collect::<Vec<_>>()
            .join("|")
    };
    let (one, many) = (host_paths(false), host_paths(true));
    format!(
        r#"
# Saved hosts for HOST[:PORT] arguments (`{name} profile list --names`), added to the
# completions above. Written by `{name} generate bash` from the same flag definitions.
_{name}_saved_hosts() {{
    _{name} "$@"
    local line="${{COMP_LINE:0:COMP_POINT}}" cur="" path="" takes="{root_takes}" w i
    local -a words
    local -i positional=0
    read -ra words <<<"$line"
    if [[ -n "$line" && ! "$line" =~ [[:space:]]$ ]]; then
        cur="${{words[${{#words[@]}}-1]}}"
        unset 'words[${{#words[@]}}-1]'
    fi
    [[ "$cur" == -* ]] && return 0
    for ((i = 1; i < ${{#words[@]}}; i++)); do
        w="${{words[i]}}"
        case "$w" in
        --*=*) continue ;;
        -*)
            if [[ " $takes " == *" $w "* ]]; then
                # The word being completed is this option's value.
                ((i + 1 < ${{#words[@]}})) || return 0
                ((i++))
            fi
            continue
            ;;
        esac
        case "$path/$w" in
{paths}            *) positional+=1 ;;
        esac
    done
    case "$path" in
    {one}) ((positional == 0)) || return 0 ;;
    {many}) ;;
    *) return 0 ;;
    esac
    local saved host prefix=""
    if [[ "$COMP_WORDBREAKS" == *:* && "$cur" == *:* ]]; then
        prefix="${{cur%"${{cur##*:}}"}}"
    fi
    saved="$("${{COMP_WORDS[0]}}" profile list --names 2>/dev/null)"
    for host in $saved; do
        [[ "$host" == "$cur"* ]] && COMPREPLY+=("${{host#"$prefix"}}")
    done
    return 0
}}
if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _{name}_saved_hosts -o nosort -o bashdefault -o default {name}
else
    complete -F _{name}_saved_hosts -o bashdefault -o default {name}
fi
"#
    )
}

fn zsh(name: &str) -> String {
    format!(
        r#"
# Saved hosts (`{name} profile list --names`) first, then the host names zsh knows.
_{name}_saved_hosts() {{
    local -a saved
    saved=(${{(f)"$(_call_program saved-hosts ${{words[1]}} profile list --names 2>/dev/null)"}})
    compadd -a saved
    _hosts
}}
"#
    )
}

fn fish(name: &str, commands: &[HostCommand]) -> String {
    let mut text =
        format!("\n# Saved hosts for HOST[:PORT] arguments (`{name} profile list --names`).\n");
    for command in commands {
        let condition = match command.path.as_slice() {
            [sub] => format!("__fish_{name}_using_subcommand {sub}"),
            [parent, sub] => format!(
                "__fish_{name}_using_subcommand {parent}; and __fish_seen_subcommand_from {sub}"
            ),
            _ => continue,
        };
        text.push_str(&format!(
            "complete -c {name} -n \"{condition}\" -f -a \"({name} profile list --names 2>/dev/null)\" -d 'saved host'\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn every_host_argument_is_found() {
        let mut command = crate::cli::args::Cli::command();
        command.build();
        let paths: Vec<(String, bool)> = host_commands(&command)
            .into_iter()
            .map(|c| (c.path.join(" "), c.many))
            .collect();
        for expected in [
            ("connect", false),
            ("open", false),
            ("diagnose", false),
            ("matrix", true),
            ("profile show", false),
            ("profile rm", false),
            ("profile repair", false),
            ("profile export", false),
        ] {
            assert!(
                paths.contains(&(expected.0.to_owned(), expected.1)),
                "{expected:?} in {paths:?}"
            );
        }
    }

    #[test]
    fn value_options_include_globals_and_short_forms() {
        let mut command = crate::cli::args::Cli::command();
        command.build();
        let connect = command.find_subcommand("connect").unwrap();
        let options = value_options(connect);
        for o in ["--user", "-u", "--tls", "--color", "--timeout"] {
            assert!(options.contains(&o.to_owned()), "{o} in {options:?}");
        }
        assert!(!options.contains(&"--json".to_owned()));
    }
}
