//! `rdpshim diagnose HOST[:PORT]`: probes without credentials, then a verdict per known
//! cause of mstsc's error 0x904. The probing is `engine::probe`, the judging
//! `diagnose::verdicts`; this file parses flags and prints.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use rdpshim::attempt::{parse_host_port, StageTimeouts};
use rdpshim::diagnose::findings::{Findings, Reach, Tri, X224Answer};
use rdpshim::diagnose::verdicts::{self, Status, Verdict};
use rdpshim::engine::probe::{self, ProbeLimits};

use super::exit;

pub const DIAGNOSE_EXIT_HELP: &str = "\
Exit codes:
  0  no known cause of failure found
  2  usage error
  4  at least one cause found (see the verdicts)
  5  the server was not reached (name, refused, filtered)";

#[derive(Debug, Args)]
#[command(after_help = DIAGNOSE_EXIT_HELP)]
pub struct DiagnoseArgs {
    /// HOST[:PORT] (default port 3389).
    pub target: String,
    /// Print one JSON object with every finding and verdict.
    #[arg(long)]
    pub json: bool,
    /// Time limit, in seconds, for each network step of each probe.
    #[arg(long, value_name = "SECONDS", default_value = "4", value_parser = super::args::parse_timeout)]
    pub timeout: Duration,
    /// Simultaneous connections to the server (small servers drop connections beyond a
    /// tiny listen backlog; xrdp's is 2).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub connections: u16,
}

#[derive(Serialize)]
struct DiagnosisJson<'a> {
    #[serde(flatten)]
    findings: &'a Findings,
    verdicts: &'a [Verdict],
    /// The causes found, in verdict order.
    found: Vec<&'static str>,
}

pub fn run(args: &DiagnoseArgs) -> ExitCode {
    let (host, port) = match parse_host_port(&args.target) {
        Ok(pair) => pair,
        Err(message) => {
            eprintln!("rdpshim: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let limits = ProbeLimits {
        timeouts: StageTimeouts::uniform(args.timeout),
        connections: usize::from(args.connections),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rdpshim: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let findings = runtime.block_on(probe::diagnose(&host, port, limits));
    let verdicts = verdicts::verdicts(&findings);
    let found = verdicts::found(&verdicts);

    if args.json {
        let json = DiagnosisJson {
            findings: &findings,
            verdicts: &verdicts,
            found: found.iter().map(|c| c.as_str()).collect(),
        };
        match serde_json::to_string_pretty(&json) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("rdpshim: cannot encode JSON: {e}"),
        }
    } else {
        print!("{}", render(&findings, &verdicts));
    }

    if findings.probed.is_none() {
        ExitCode::from(exit::UNREACHABLE)
    } else if found.is_empty() {
        ExitCode::from(exit::CONNECTED)
    } else {
        ExitCode::from(exit::NO_WORKING_CONFIGURATION)
    }
}

fn tri(value: Tri) -> &'static str {
    match value {
        Tri::Yes => "yes",
        Tri::No => "no",
        Tri::Unknown => "cannot tell",
    }
}

/// The terminal report: findings by topic, then the verdicts, found ones first.
fn render(f: &Findings, verdicts: &[Verdict]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rdpshim diagnose {}:{}  ({:.2} s)",
        f.host,
        f.port,
        f.ms / 1000.0
    );

    let _ = writeln!(out, "\nReachability");
    if let Some(error) = &f.dns.error {
        let _ = writeln!(out, "  DNS      {error}");
    }
    for a in &f.dns.addresses {
        let what = match a.tcp {
            Reach::Connected => format!("accepts TCP ({} ms)", a.ms),
            Reach::Refused => format!("refused, RST ({} ms)", a.ms),
            Reach::Timeout => format!("no answer ({} ms)", a.ms),
            Reach::Unreachable => format!("unreachable ({} ms)", a.ms),
        };
        let _ = writeln!(out, "  {:<40} {what}", a.address);
    }

    if !f.security_layers.is_empty() {
        let _ = writeln!(out, "\nSecurity layers (X.224, each requested alone)");
        for p in &f.security_layers {
            let what = match (&p.answer, p.accepted) {
                (_, true) => "accepted".to_owned(),
                (X224Answer::Selected { name, .. }, false) => {
                    format!("not accepted: the server selected {name} instead")
                }
                (other, false) => probe::describe(other),
            };
            let _ = writeln!(
                out,
                "  {:<10} (0x{:x})  {what}",
                p.layer.as_str(),
                p.requested
            );
        }
    }

    if let Some(tls) = &f.tls {
        let _ = writeln!(
            out,
            "\nTLS ({} handshakes; a modern client (rustls) {})",
            tls.handshakes,
            if tls.modern_client_ok {
                "connects"
            } else {
                "does NOT connect"
            }
        );
        for v in &tls.versions {
            if !v.accepted {
                // The class, not OpenSSL's error stack (that is in --json).
                let why = match v.refusal.as_deref() {
                    Some(r) if r.starts_with("X.224") => r,
                    Some(r) => r.split(": ").next().unwrap_or(r),
                    None => "refused",
                };
                let _ = writeln!(out, "  TLS {}  no   ({why})", v.version.as_str());
                continue;
            }
            let _ = writeln!(
                out,
                "  TLS {}  yes  {} suites",
                v.version.as_str(),
                v.suites.len()
            );
            for s in &v.suites {
                let stacks: Vec<&str> = s.stacks.iter().map(|s| s.as_str()).collect();
                let _ = writeln!(
                    out,
                    "    {:<32} {:>3} bits  {:<4} {:<6} [{}]{}",
                    s.name,
                    s.bits,
                    if s.aead { "AEAD" } else { "CBC" },
                    if s.forward_secrecy { "FS" } else { "no-FS" },
                    stacks.join(","),
                    if v.preferred.as_deref() == Some(s.name.as_str()) {
                        "  preferred"
                    } else {
                        ""
                    }
                );
            }
        }
    }

    if let Some(c) = &f.certificate {
        let i = &c.info;
        let _ = writeln!(out, "\nCertificate");
        let _ = writeln!(out, "  subject    {}", i.subject);
        if !c.san.is_empty() {
            let _ = writeln!(out, "  SAN        {}", c.san.join(", "));
        }
        let _ = writeln!(
            out,
            "  issuer     {}{}",
            i.issuer,
            if i.self_signed { " (self-signed)" } else { "" }
        );
        let state = if i.expired {
            "  EXPIRED"
        } else if i.not_yet_valid {
            "  NOT YET VALID"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  validity   {} to {}{state}",
            i.not_before, i.not_after
        );
        let _ = writeln!(
            out,
            "  key        {} {} bits, {}",
            c.key_type, c.key_bits, c.signature_algorithm
        );
        let _ = writeln!(out, "  sha256     {}", i.sha256);
    }

    let n = &f.nla;
    let _ = writeln!(out, "\nNLA");
    let _ = writeln!(
        out,
        "  offered {}, required {}",
        tri(n.offered),
        tri(n.required)
    );
    if let Some(v) = n.credssp_version {
        let _ = writeln!(out, "  CredSSP version {v}");
    }
    if let Some(id) = &n.ntlm {
        let fields = [
            ("target name", &id.target_name),
            ("NetBIOS domain", &id.netbios_domain),
            ("NetBIOS computer", &id.netbios_computer),
            ("DNS domain", &id.dns_domain),
            ("DNS computer", &id.dns_computer),
            ("DNS tree", &id.dns_tree),
            ("product version", &id.product_version),
            ("system time", &id.system_time),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                let _ = writeln!(out, "  {name:<17} {value}");
            }
        }
    }
    if let Some(e) = &n.error {
        let _ = writeln!(out, "  ({e})");
    }

    let m = &f.multitransport;
    let _ = writeln!(out, "\nMultitransport (UDP)");
    let _ = writeln!(
        out,
        "  advertised {}{}",
        tri(m.advertised),
        if m.flags.is_empty() {
            String::new()
        } else {
            format!(": {}", m.flags.join(" | "))
        }
    );
    if let Some(v) = &m.rdp_version {
        let _ = writeln!(out, "  server RDP version {v}");
    }
    if let Some(d) = &m.detail {
        let _ = writeln!(out, "  ({d})");
    }

    let _ = writeln!(
        out,
        "\nVerdicts (known causes of mstsc error 0x904 / extended 0x7)"
    );
    let order = [Status::Found, Status::CannotTell, Status::NotFound];
    for status in order {
        for v in verdicts.iter().filter(|v| v.status == status) {
            let label = match v.status {
                Status::Found => "FOUND",
                other => other.as_str(),
            };
            let _ = writeln!(out, "  {label:<12} {:<18} {}", v.cause.as_str(), v.evidence);
            if let Some(r) = &v.remedy {
                let _ = writeln!(out, "  {:<31} server: {}", "", r.server);
                let _ = writeln!(out, "  {:<31} client: {}", "", r.client);
            }
        }
    }
    out
}
