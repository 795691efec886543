//! `rdpshim diagnose HOST[:PORT]`: probes without credentials, then a verdict per known
//! cause of mstsc's error 0x904. The probing is `engine::probe`, the judging
//! `diagnose::verdicts`; this file parses flags and prints.

use std::process::ExitCode;

use serde::Serialize;

use rdpshim::attempt::StageTimeouts;
use rdpshim::diagnose::findings::{Findings, Reach, Refusal, Tri, X224Answer};
use rdpshim::diagnose::verdicts::{self, Status, Verdict};
use rdpshim::engine::probe::{self, ProbeLimits};
use rdpshim::terminal::escape;

use super::args::DiagnoseArgs;
use super::{exit, style};

#[derive(Serialize)]
struct DiagnosisJson<'a> {
    #[serde(flatten)]
    findings: &'a Findings,
    verdicts: &'a [Verdict],
    /// The causes found, in verdict order.
    found: Vec<&'static str>,
}

pub fn run(args: &DiagnoseArgs) -> ExitCode {
    let (host, port) = (&args.target.target.host, args.target.target.port);
    let limits = ProbeLimits {
        timeouts: StageTimeouts::uniform(args.timeout.timeout),
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
    let findings = runtime.block_on(probe::diagnose(host, port, limits));
    let verdicts = verdicts::verdicts(&findings);
    let found = verdicts::found(&verdicts);

    if args.output.json {
        let json = DiagnosisJson {
            findings: &findings,
            verdicts: &verdicts,
            found: found.iter().map(|c| c.as_str()).collect(),
        };
        match serde_json::to_string_pretty(&json) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("rdpshim: cannot encode JSON: {e}"),
        }
    } else if style::quiet() {
        println!("{}", verdict_line(&findings, &found));
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

/// `-q`: one line, what the exit code says.
fn verdict_line(findings: &Findings, found: &[verdicts::Cause]) -> String {
    let paint = style::out();
    if findings.probed.is_none() {
        paint.bad(&format!(
            "{}:{} not reached",
            escape(&findings.host),
            findings.port
        ))
    } else if found.is_empty() {
        paint.good("no known cause of failure found")
    } else {
        let names: Vec<&str> = found.iter().map(|c| c.as_str()).collect();
        paint.bad(&format!("found: {}", names.join(", ")))
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
        escape(&f.host),
        f.port,
        f.ms / 1000.0
    );

    let _ = writeln!(out, "\nReachability");
    if let Some(error) = &f.dns.error {
        let _ = writeln!(out, "  DNS      {}", escape(error));
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
                    format!("not accepted: the server selected {} instead", escape(name))
                }
                (other, false) => escape(&other.to_string()).into_owned(),
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
                let why = match &v.refusal {
                    Some(Refusal::Failed(failure)) => failure.class.to_string(),
                    Some(other) => other.to_string(),
                    None => "refused".to_owned(),
                };
                let _ = writeln!(out, "  TLS {}  no   ({})", v.version.as_str(), escape(&why));
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
                    escape(&s.name),
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
        let _ = writeln!(out, "  subject    {}", escape(&i.subject));
        if !c.san.is_empty() {
            let _ = writeln!(out, "  SAN        {}", escape(&c.san.join(", ")));
        }
        let _ = writeln!(
            out,
            "  issuer     {}{}",
            escape(&i.issuer),
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
            escape(&i.not_before),
            escape(&i.not_after)
        );
        let _ = writeln!(
            out,
            "  key        {} {} bits, {}",
            escape(&c.key_type),
            c.key_bits,
            escape(&c.signature_algorithm)
        );
        let _ = writeln!(out, "  sha256     {}", escape(&i.sha256));
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
                let _ = writeln!(out, "  {name:<17} {}", escape(value));
            }
        }
    }
    if let Some(e) = &n.error {
        let _ = writeln!(out, "  ({})", escape(e));
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
            format!(": {}", escape(&m.flags.join(" | ")))
        }
    );
    if let Some(v) = &m.rdp_version {
        let _ = writeln!(out, "  server RDP version {}", escape(v));
    }
    if let Some(d) = &m.detail {
        let _ = writeln!(out, "  ({})", escape(d));
    }

    let _ = writeln!(
        out,
        "\nVerdicts (known causes of mstsc error 0x904 / extended 0x7)"
    );
    let order = [Status::Found, Status::CannotTell, Status::NotFound];
    for status in order {
        for v in verdicts.iter().filter(|v| v.status == status) {
            let label = match v.status {
                Status::Found => style::out().bad(&format!("{:<12}", "FOUND")),
                other => format!("{:<12}", other.as_str()),
            };
            let _ = writeln!(
                out,
                "  {label} {:<18} {}",
                v.cause.as_str(),
                escape(&v.evidence)
            );
            if let Some(r) = &v.remedy {
                let _ = writeln!(out, "  {:<31} server: {}", "", escape(&r.server));
                let _ = writeln!(out, "  {:<31} client: {}", "", escape(&r.client));
            }
        }
    }
    out
}
