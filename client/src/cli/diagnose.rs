//! `rdpshim diagnose HOST[:PORT] [--gateway GW]`: probes without credentials, then a verdict
//! per known cause of mstsc's error 0x904. The probing is `engine::probe` (and
//! `route::gateway::diagnose` for the gateway, which opens a tunnel only with credentials),
//! the judging `diagnose::verdicts`; this file parses flags and prints.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use rdpshim::attempt::StageTimeouts;
use rdpshim::diagnose::findings::{
    CertificateDetails, DnsFinding, Findings, Reach, Refusal, TlsScan, Tri, X224Answer,
};
use rdpshim::diagnose::gateway::GatewayFindings;
use rdpshim::diagnose::progress::Progress;
use rdpshim::diagnose::verdicts::{self, Severity, Status, Verdict};
use rdpshim::engine::probe::{self, ProbeLimits};
use rdpshim::route::gateway::{self, GatewayCredentials};
use rdpshim::session::credentials::{for_gateway_diagnosis, GatewayAccountNames};
use rdpshim::terminal::escape;

use super::args::DiagnoseArgs;
use super::progress::Console;
use super::{exit, style};

#[derive(Serialize)]
struct DiagnosisJson<'a> {
    #[serde(flatten)]
    findings: &'a Findings,
    verdicts: &'a [Verdict],
    /// The causes found, in verdict order (every severity).
    found: Vec<&'static str>,
    /// The blocking causes found: exit 4 when there is one.
    blocking: Vec<&'static str>,
}

pub fn run(args: &DiagnoseArgs) -> ExitCode {
    let (host, port) = (&args.target.target.host, args.target.target.port);
    let progress = Arc::new(Progress::default());
    let limits = ProbeLimits {
        timeouts: StageTimeouts::uniform(args.timeout.timeout),
        connections: usize::from(args.connections),
        progress: Some(progress.clone()),
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
    // The gateway's tunnel needs a password: asked (or read) before the probes start.
    let gateway = args.gateway.gateway.as_ref();
    let credentials = match gateway {
        Some(gw) => match gateway_credentials(args, &gw.host) {
            Ok(credentials) => credentials,
            Err(e) => {
                eprintln!("rdpshim: {e}");
                return ExitCode::from(exit::USAGE);
            }
        },
        None => None,
    };
    let ticker = (std::io::stderr().is_terminal() && !style::quiet())
        .then(|| Ticker::start(format!("{}:{port}", escape(host)), progress));
    let mut findings = runtime.block_on(async {
        let host_probes = probe::diagnose(host, port, limits.clone());
        match gateway {
            Some(gw) => {
                let gateway_probes = gateway::diagnose::diagnose(
                    &gw.host,
                    gw.port,
                    host,
                    port,
                    credentials,
                    &limits,
                );
                let (mut findings, gateway) = tokio::join!(host_probes, gateway_probes);
                findings.gateway = Some(gateway);
                findings
            }
            None => host_probes.await,
        }
    });
    if let Some(ticker) = ticker {
        ticker.stop();
    }
    findings.ms = findings.ms.max(0.0);
    let verdicts = verdicts::verdicts(&findings);
    let found = verdicts::found(&verdicts);
    let blocking = verdicts::blocking(&verdicts);

    if args.output.json {
        let json = DiagnosisJson {
            findings: &findings,
            verdicts: &verdicts,
            found: found.iter().map(|c| c.as_str()).collect(),
            blocking: blocking.iter().map(|c| c.as_str()).collect(),
        };
        match serde_json::to_string_pretty(&json) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("rdpshim: cannot encode JSON: {e}"),
        }
    } else if style::quiet() {
        println!("{}", verdict_line(&findings, &found, &blocking));
    } else {
        print!("{}", render(&findings, &verdicts));
    }

    // Through the gateway the host was reached even when it is not reachable directly.
    let through_gateway = findings
        .gateway
        .as_ref()
        .and_then(|g| g.tunnel.as_ref())
        .is_some_and(|t| t.refusal.is_none());
    if findings.probed.is_none() && !through_gateway {
        ExitCode::from(exit::UNREACHABLE)
    } else if blocking.is_empty() {
        ExitCode::from(exit::CONNECTED)
    } else {
        ExitCode::from(exit::NO_WORKING_CONFIGURATION)
    }
}

/// The credentials for the gateway's tunnel probe: `--gateway-user`'s, else `-u`'s; none
/// without a user (the probes without credentials still run).
fn gateway_credentials(
    args: &DiagnoseArgs,
    gateway: &str,
) -> Result<Option<GatewayCredentials>, rdpshim::secret::PasswordError> {
    let names = GatewayAccountNames {
        gateway_user: args.gateway.gateway_user.as_deref(),
        gateway_domain: args.gateway.gateway_domain.as_deref(),
        host_user: args.login.user.as_deref(),
        host_domain: args.login.domain.as_deref(),
    };
    let mut console = Console::new(args.output.json);
    let found = for_gateway_diagnosis(
        &names,
        &args.target.target.host,
        gateway,
        args.login.password_stdin,
        &mut console,
    )?;
    Ok(found.map(|c| GatewayCredentials {
        username: c.username,
        domain: c.domain,
        password: c.password,
    }))
}

/// A progress line on stderr while the probes run (only on a terminal: it can take
/// seconds), rewritten in place and erased at the end.
struct Ticker {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Ticker {
    fn start(target: String, progress: Arc<Progress>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut stderr = std::io::stderr();
            while !stop.load(Ordering::Relaxed) {
                let _ = write!(
                    stderr,
                    "\r\x1b[2Kdiagnose {target}: {} ({} connections, {:.1} s)",
                    progress.phase().describe(),
                    progress.connections(),
                    started.elapsed().as_secs_f64()
                );
                let _ = stderr.flush();
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
        });
        Self { done, thread }
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// `-q`: one line, what the exit code says (a blocking cause or not), then the other
/// causes found.
fn verdict_line(
    findings: &Findings,
    found: &[verdicts::Cause],
    blocking: &[verdicts::Cause],
) -> String {
    let paint = style::out();
    let names = |causes: &[verdicts::Cause]| -> String {
        causes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let others: Vec<verdicts::Cause> = found
        .iter()
        .copied()
        .filter(|c| !blocking.contains(c))
        .collect();
    if findings.probed.is_none() {
        paint.bad(&format!(
            "{}:{} not reached",
            escape(&findings.host),
            findings.port
        ))
    } else if blocking.is_empty() && others.is_empty() {
        paint.good("no known cause of failure found")
    } else if blocking.is_empty() {
        paint.good(&format!(
            "no blocking cause found (also: {})",
            names(&others)
        ))
    } else if others.is_empty() {
        paint.bad(&format!("blocking: {}", names(blocking)))
    } else {
        paint.bad(&format!(
            "blocking: {} (also: {})",
            names(blocking),
            names(&others)
        ))
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
    render_reach(&mut out, &f.dns);

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
        let _ = writeln!(out);
        render_tls(&mut out, "TLS", tls);
    }
    if let Some(c) = &f.certificate {
        let _ = writeln!(out, "\nCertificate");
        render_certificate(&mut out, c);
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
        let _ = writeln!(out, "  ({})", escape(&e.to_string()));
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
        let _ = writeln!(out, "  ({})", escape(&d.to_string()));
    }

    if let Some(r) = &f.rdp_security {
        let _ = writeln!(
            out,
            "\nStandard RDP Security (an MCS Connect Initial per method)"
        );
        if let Some(level) = r.level {
            let _ = writeln!(out, "  encryption level {}", level.name());
        }
        for m in &r.methods {
            let what = match (&m.detail, m.accepted) {
                (_, true) => "accepted".to_owned(),
                (Some(detail), false) => format!("not accepted ({})", escape(detail)),
                (None, false) => "not accepted".to_owned(),
            };
            let _ = writeln!(out, "  {:<12} {what}", m.method.name());
        }
    }
    if f.tls_without_x224 != Tri::Unknown {
        let _ = writeln!(
            out,
            "\nTLS without X.224: {}",
            if f.tls_without_x224 == Tri::Yes {
                "a handshake completes (the port speaks TLS straight away)"
            } else {
                "no handshake"
            }
        );
    }

    if let Some(g) = &f.gateway {
        render_gateway(&mut out, g);
    }

    let _ = writeln!(
        out,
        "\nCauses (the causes of mstsc error 0x904 / extended 0x7, and weaknesses)"
    );
    for severity in Severity::ALL {
        let hits: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| v.status == Status::Found && v.severity == severity)
            .collect();
        if hits.is_empty() {
            continue;
        }
        let heading = match severity {
            Severity::Blocking => "blocking (the stock client fails; exit 4)",
            Severity::Conditional => "conditional (fails under a client policy)",
            Severity::Weakness => "weaknesses (works, but weaker than it should be)",
        };
        let _ = writeln!(out, "  {heading}");
        for v in hits {
            let _ = writeln!(out, "    {:<24} {}", v.cause.as_str(), v.title);
            let _ = writeln!(out, "    {:<24} evidence: {}", "", escape(&v.evidence));
            if let Some(r) = &v.remedy {
                let _ = writeln!(out, "    {:<24} server: {}", "", r.server);
                let _ = writeln!(out, "    {:<24} client: {}", "", r.client);
            }
            if let Some(fallback) = v.workaround {
                let _ = writeln!(
                    out,
                    "    {:<24} rdpshim connect: gets through with the `{fallback}` fallback (announced)",
                    ""
                );
            }
        }
    }
    if verdicts.iter().all(|v| v.status != Status::Found) {
        let _ = writeln!(out, "  none found");
    }
    for status in [Status::CannotTell, Status::NotFound] {
        for v in verdicts.iter().filter(|v| v.status == status) {
            let _ = writeln!(
                out,
                "  {:<12} {:<24} {}",
                status.as_str(),
                v.cause.as_str(),
                escape(&v.evidence)
            );
        }
    }
    out
}

fn render_reach(out: &mut String, dns: &DnsFinding) {
    use std::fmt::Write as _;
    if let Some(error) = &dns.error {
        let _ = writeln!(out, "  DNS      {}", escape(error));
    }
    for a in &dns.addresses {
        let what = match a.tcp {
            Reach::Connected => format!("accepts TCP ({} ms)", a.ms),
            Reach::Refused => format!("refused, RST ({} ms)", a.ms),
            Reach::Timeout => format!("no answer ({} ms)", a.ms),
            Reach::Unreachable => format!("unreachable ({} ms)", a.ms),
        };
        let _ = writeln!(out, "  {:<40} {what}", a.address);
    }
}

fn render_tls(out: &mut String, title: &str, tls: &TlsScan) {
    use std::fmt::Write as _;
    {
        let _ = writeln!(
            out,
            "{title} ({} handshakes; a modern client (rustls) {})",
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
}

fn render_certificate(out: &mut String, c: &CertificateDetails) {
    use std::fmt::Write as _;
    {
        let i = &c.info;
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
}

/// The RD Gateway's section: its addresses, TLS, certificate, what its 401 offers, the
/// WebSocket transport, and the tunnel to the host when credentials were given.
fn render_gateway(out: &mut String, g: &GatewayFindings) {
    use std::fmt::Write as _;
    let endpoint = rdpshim::host::HostPort {
        host: g.host.clone(),
        port: g.port,
    };
    let _ = writeln!(out, "\nRD Gateway {}", escape(&endpoint.to_string()));
    render_reach(out, &g.dns);
    if let Some(tls) = &g.tls {
        render_tls(out, "  its TLS", tls);
    }
    if let Some(c) = &g.certificate {
        let _ = writeln!(out, "  its certificate");
        render_certificate(out, c);
    }
    let http = match (g.http.status, &g.http.error) {
        (Some(status), _) => format!(
            "HTTP {status}, schemes offered: {}",
            if g.http.schemes.is_empty() {
                "none".to_owned()
            } else {
                escape(&g.http.schemes.join(", ")).into_owned()
            }
        ),
        (None, Some(error)) => format!("no answer ({})", escape(error)),
        (None, None) => "no answer".to_owned(),
    };
    let _ = writeln!(out, "  without credentials: {http}");
    let _ = writeln!(out, "  WebSocket transport: {}", tri(g.websocket));
    match &g.tunnel {
        None => {
            let _ = writeln!(
                out,
                "  tunnel to the host: not tried (no credentials: -u USER or --gateway-user USER)"
            );
        }
        Some(t) => {
            let what = match (&t.refusal, t.transport) {
                (None, Some(transport)) => format!("opened ({})", transport.as_str()),
                (None, None) => "opened".to_owned(),
                (Some(refusal), _) => escape(&refusal.to_string()).into_owned(),
            };
            let _ = writeln!(out, "  tunnel to the host as {}: {what}", escape(&t.user));
        }
    }
}
