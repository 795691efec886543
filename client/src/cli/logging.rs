//! `-v` / `-vv` through `tracing`, on stderr so stdout stays clean for `--json`.

use tracing_subscriber::EnvFilter;

/// Default: rdpshim's warnings only; -v: rdpshim's own debug events; -vv: protocol libraries too. `RUST_LOG` overrides.
pub fn init(verbose: u8) {
    let default = match verbose {
        // Protocol libraries log recoverable oddities of real servers at WARN/ERROR
        // (xrdp's grant_id, for one); they are noise unless asked for.
        0 => "off,rdpshim=warn",
        1 => "off,rdpshim=debug",
        _ => "debug,rdpshim=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .try_init();
}
