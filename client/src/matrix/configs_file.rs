//! `--configs FILE`: narrow the generated dimensions and/or add named configurations.
//!
//! ```toml
//! [matrix]                      # every key optional; a missing one keeps every value
//! generate = true               # false: only the [[config]] entries below
//! nla = [true, false]
//! tls = ["rustls-auto", "rustls-1.2", "openssl-1.2", "openssl-1.1", "openssl-1.0"]
//! dial = ["name", "ip"]
//! udp = [true, false]
//! route = ["direct", "gateway"]  # with --gateway (its default then); "gateway" needs it
//! gateway_tls = "rustls-auto"   # the gateway leg's TLS for the gateway configurations
//!
//! [[config]]                    # an extra, named configuration
//! id = "legacy-cbc"
//! nla = false                   # default true
//! tls = "openssl-1.2"           # STACK-VERSION, VERSION = auto|1.3|1.2|1.1|1.0 (default rustls-auto)
//! ciphers = "AES128-SHA"        # rustls suite names or an OpenSSL cipher string
//! dial = "name"                 # or "ip" (default name)
//! udp = false                   # default true
//! autologon = false             # NLA off: send the credentials in Client Info
//! route = "direct"              # or "gateway" (needs --gateway)
//! gateway_tls = "openssl-1.0"   # the gateway leg's TLS (default rustls-auto)
//! ```
//!
//! Every error names the line and column, so a person can fix the file.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::config::{generated_id, parse_tls_name, Configuration, DialBy, Dimensions, RouteBy};
use crate::attempt::TlsChoice;

/// A configs file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigsError {
    /// 1-based line and column (characters); 0 when the error has no place in the file.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    matrix: Option<MatrixToml>,
    #[serde(default)]
    config: Vec<Spanned<ConfigToml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixToml {
    generate: Option<bool>,
    nla: Option<Spanned<Vec<Spanned<bool>>>>,
    tls: Option<Spanned<Vec<Spanned<String>>>>,
    dial: Option<Spanned<Vec<Spanned<String>>>>,
    udp: Option<Spanned<Vec<Spanned<bool>>>>,
    route: Option<Spanned<Vec<Spanned<String>>>>,
    gateway_tls: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    id: Spanned<String>,
    nla: Option<bool>,
    tls: Option<Spanned<String>>,
    ciphers: Option<Spanned<String>>,
    dial: Option<Spanned<String>>,
    udp: Option<bool>,
    autologon: Option<bool>,
    route: Option<Spanned<String>>,
    gateway_tls: Option<Spanned<String>>,
}

/// The configurations a configs file asks for, generated ones first (in dimension order),
/// then the extras in file order; direct only.
pub fn parse(text: &str) -> Result<Vec<Configuration>, ConfigsError> {
    parse_for(text, false)
}

/// [`parse`] for a matrix with `--gateway` (`gateway`): the route dimension is both
/// routes unless the file narrows it; without it a file that asks for the gateway route
/// is an error at that line.
pub fn parse_for(text: &str, gateway: bool) -> Result<Vec<Configuration>, ConfigsError> {
    let at = |span: Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        ConfigsError {
            line,
            column,
            message,
        }
    };
    let file: FileToml = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => at(span, e.message().trim().to_owned()),
        None => ConfigsError {
            line: 0,
            column: 0,
            message: e.message().trim().to_owned(),
        },
    })?;

    let mut configs = Vec::new();
    let matrix = file.matrix;
    if matrix.as_ref().and_then(|m| m.generate) != Some(false) {
        let dims = match &matrix {
            Some(m) => dimensions(m, gateway, &at)?,
            None if gateway => Dimensions::with_gateway(),
            None => Dimensions::default(),
        };
        configs = dims.expand();
    }
    for entry in &file.config {
        let config = extra(entry.get_ref(), gateway, &at)?;
        if configs.iter().any(|c: &Configuration| c.id == config.id) {
            return Err(at(
                entry.get_ref().id.span(),
                format!("configuration id `{}` is used twice", config.id),
            ));
        }
        configs.push(config);
    }
    if configs.is_empty() {
        return Err(ConfigsError {
            line: 0,
            column: 0,
            message: "no configurations: `generate = false` and no [[config]] entries".to_owned(),
        });
    }
    Ok(configs)
}

type At<'a> = dyn Fn(Range<usize>, String) -> ConfigsError + 'a;

fn dimensions(m: &MatrixToml, gateway: bool, at: &At<'_>) -> Result<Dimensions, ConfigsError> {
    let all = if gateway {
        Dimensions::with_gateway()
    } else {
        Dimensions::default()
    };
    let gateway_tls = match &m.gateway_tls {
        Some(text) => rung(text.get_ref()).map_err(|e| at(text.span(), e.to_string()))?,
        None => all.gateway_tls.clone(),
    };
    Ok(Dimensions {
        route: pick(
            &m.route,
            all.route,
            "route",
            |v: &String| route(v, gateway),
            at,
        )?,
        gateway_tls,
        nla: pick(&m.nla, all.nla, "nla", |v: &bool| Ok(*v), at)?,
        tls: pick(&m.tls, all.tls, "tls", |v: &String| rung(v), at)?,
        dial: pick(&m.dial, all.dial, "dial", |v: &String| dial(v), at)?,
        udp: pick(&m.udp, all.udp, "udp", |v: &bool| Ok(*v), at)?,
    })
}

/// The values listed for a dimension (each converted, no repeats, not empty), or all.
fn pick<V, T: PartialEq>(
    listed: &Option<Spanned<Vec<Spanned<V>>>>,
    all: Vec<T>,
    name: &str,
    convert: impl Fn(&V) -> Result<T, UnknownValue>,
    at: &At<'_>,
) -> Result<Vec<T>, ConfigsError> {
    let Some(listed) = listed else {
        return Ok(all);
    };
    if listed.get_ref().is_empty() {
        return Err(at(
            listed.span(),
            format!("`{name}` is empty; leave it out to keep every value"),
        ));
    }
    let mut out = Vec::new();
    for value in listed.get_ref() {
        let converted = convert(value.get_ref()).map_err(|e| at(value.span(), e.to_string()))?;
        if out.contains(&converted) {
            return Err(at(value.span(), format!("`{name}` lists a value twice")));
        }
        out.push(converted);
    }
    Ok(out)
}

/// A value of a dimension that names nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum UnknownValue {
    #[error(
        "unknown TLS choice `{0}`: expected STACK-VERSION with STACK rustls|openssl and \
         VERSION auto|1.3|1.2|1.1|1.0 (the ladder: rustls-auto, rustls-1.2, openssl-1.2, \
         openssl-1.1, openssl-1.0)"
    )]
    Tls(String),
    #[error("unknown dial `{0}`: expected name or ip")]
    Dial(String),
    #[error("unknown route `{0}`: expected direct or gateway")]
    Route(String),
    #[error("route `gateway` needs --gateway GW[:PORT]")]
    NoGateway,
}

fn route(text: &str, gateway: bool) -> Result<RouteBy, UnknownValue> {
    match RouteBy::parse(text) {
        Some(RouteBy::Gateway) if !gateway => Err(UnknownValue::NoGateway),
        Some(route) => Ok(route),
        None => Err(UnknownValue::Route(text.to_owned())),
    }
}

fn rung(text: &str) -> Result<TlsChoice, UnknownValue> {
    parse_tls_name(text).ok_or_else(|| UnknownValue::Tls(text.to_owned()))
}

fn dial(text: &str) -> Result<DialBy, UnknownValue> {
    DialBy::parse(text).ok_or_else(|| UnknownValue::Dial(text.to_owned()))
}

fn extra(entry: &ConfigToml, gateway: bool, at: &At<'_>) -> Result<Configuration, ConfigsError> {
    let id = entry.id.get_ref();
    let id_ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/+-".contains(c));
    if !id_ok {
        return Err(at(
            entry.id.span(),
            format!("configuration id `{id}`: use letters, digits and . _ / + - only"),
        ));
    }
    let mut tls = match &entry.tls {
        Some(text) => rung(text.get_ref()).map_err(|e| at(text.span(), e.to_string()))?,
        None => TlsChoice::modern(),
    };
    if let Some(ciphers) = &entry.ciphers {
        tls.ciphers = Some(ciphers.get_ref().clone());
    }
    if let Err(why) = crate::engine::tls::validate(&tls) {
        let span = entry
            .ciphers
            .as_ref()
            .or(entry.tls.as_ref())
            .map_or(entry.id.span(), Spanned::span);
        return Err(at(span, format!("configuration `{id}`: {why}")));
    }
    let dial = match &entry.dial {
        Some(text) => dial(text.get_ref()).map_err(|e| at(text.span(), e.to_string()))?,
        None => DialBy::Name,
    };
    let (nla, udp) = (entry.nla.unwrap_or(true), entry.udp.unwrap_or(true));
    let by = match &entry.route {
        Some(text) => route(text.get_ref(), gateway).map_err(|e| at(text.span(), e.to_string()))?,
        None => RouteBy::Direct,
    };
    let gateway_tls = match (&entry.gateway_tls, by) {
        (Some(text), RouteBy::Gateway) => {
            Some(rung(text.get_ref()).map_err(|e| at(text.span(), e.to_string()))?)
        }
        (Some(text), RouteBy::Direct) => {
            return Err(at(
                text.span(),
                format!("configuration `{id}`: gateway_tls needs route = \"gateway\""),
            ));
        }
        (None, RouteBy::Gateway) => Some(TlsChoice::modern()),
        (None, RouteBy::Direct) => None,
    };
    // An extra may not take a generated id with other knobs: the baseline would mix them up.
    if id.contains('/') && *id != generated_id(nla, &tls, dial, udp, gateway_tls.as_ref()) {
        return Err(at(
            entry.id.span(),
            format!(
                "configuration id `{id}`: ids with `/` are reserved for generated configurations"
            ),
        ));
    }
    Ok(Configuration {
        id: id.clone(),
        nla,
        tls,
        dial,
        udp,
        autologon: entry.autologon.unwrap_or(false),
        extra: true,
        gateway: gateway_tls,
    })
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(configs: &[Configuration]) -> Vec<&str> {
        configs.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn an_empty_file_is_the_full_matrix() {
        assert_eq!(parse("").unwrap(), Dimensions::default().expand());
    }

    #[test]
    fn dimensions_narrow_and_keep_ladder_order_as_listed() {
        let configs = parse(
            "[matrix]\nnla = [false]\ntls = [\"openssl-1.0\", \"rustls-auto\"]\nudp = [false]\n",
        )
        .unwrap();
        assert_eq!(
            ids(&configs),
            [
                "no-nla/openssl-1.0/name/no-udp",
                "no-nla/openssl-1.0/ip/no-udp",
                "no-nla/rustls-auto/name/no-udp",
                "no-nla/rustls-auto/ip/no-udp",
            ]
        );
    }

    #[test]
    fn extras_follow_the_generated_ones_with_strong_defaults() {
        let text = "[[config]]\nid = \"legacy-cbc\"\nnla = false\ntls = \"openssl-1.2\"\nciphers = \"AES128-SHA\"\nudp = false\n\n[[config]]\nid = \"plain\"\n";
        let configs = parse(text).unwrap();
        assert_eq!(configs.len(), 42);
        let cbc = &configs[40];
        assert_eq!(cbc.id, "legacy-cbc");
        assert!(cbc.extra && !cbc.nla && !cbc.udp);
        assert_eq!(cbc.tls.ciphers.as_deref(), Some("AES128-SHA"));
        assert_eq!(
            cbc.describe(),
            "nla=off tls=openssl/1.2 dial=name udp=off ciphers=AES128-SHA"
        );
        let plain = &configs[41];
        assert!(plain.nla && plain.udp && plain.dial == DialBy::Name);
        assert_eq!(plain.tls, TlsChoice::modern());
    }

    #[test]
    fn the_route_dimension_needs_a_gateway_and_narrows() {
        // --gateway: both routes, the direct ids unchanged and first.
        let both = parse_for("", true).unwrap();
        assert_eq!(both.len(), 80);
        assert_eq!(both[0].id, "nla/rustls-auto/name/udp");
        assert_eq!(both[40].id, "nla/rustls-auto/name/udp/gateway");
        assert_eq!(
            both[40].describe(),
            "nla=on tls=rustls/auto dial=name udp=on route=gateway"
        );
        let only = parse_for(
            "[matrix]\nroute = [\"gateway\"]\ngateway_tls = \"openssl-1.0\"\nnla = [false]\ntls = [\"openssl-1.0\"]\ndial = [\"name\"]\nudp = [false]\n",
            true,
        )
        .unwrap();
        assert_eq!(
            ids(&only),
            ["no-nla/openssl-1.0/name/no-udp/gateway-openssl-1.0"]
        );
        assert!(only[0]
            .describe()
            .ends_with("route=gateway gateway-tls=openssl/1.0"));
        // Without --gateway the route is an error where it is asked for.
        let err = parse("[matrix]\nroute = [\"gateway\"]\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("--gateway"), "{err}");
        let err = parse("[[config]]\nid = \"g\"\nroute = \"gateway\"\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        let extra = parse_for(
            "[matrix]\ngenerate = false\n[[config]]\nid = \"via\"\nroute = \"gateway\"\n",
            true,
        )
        .unwrap();
        assert_eq!(extra[0].gateway, Some(TlsChoice::modern()));
    }

    #[test]
    fn generate_false_keeps_only_the_extras() {
        let configs = parse("[matrix]\ngenerate = false\n[[config]]\nid = \"one\"\n").unwrap();
        assert_eq!(ids(&configs), ["one"]);
        let err = parse("[matrix]\ngenerate = false\n").unwrap_err();
        assert!(err.message.contains("no configurations"), "{err}");
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "[matrix]\ntls = [\"rustls-auto\", \"schannel\"]\n",
                2,
                "unknown TLS choice",
            ),
            ("[matrix]\n\ndial = [\"dns\"]\n", 3, "unknown dial"),
            ("[matrix]\nudp = []\n", 2, "is empty"),
            ("[matrix]\nnla = [true, true]\n", 2, "twice"),
            ("[matrix]\nfoo = 1\n", 2, "unknown field"),
            (
                "[[config]]\nid = \"a\"\n[[config]]\nid = \"a\"\n",
                4,
                "used twice",
            ),
            ("[[config]]\nid = \"a b\"\n", 2, "letters, digits"),
            (
                "[[config]]\nid = \"x\"\ntls = \"rustls-1.0\"\n",
                3,
                "openssl",
            ),
            (
                "[[config]]\nid = \"x\"\nciphers = \"NOT_A_SUITE\"\n",
                3,
                "NOT_A_SUITE",
            ),
            (
                "[[config]]\nid = \"nla/rustls-auto/name/udp\"\nudp = false\n",
                2,
                "reserved",
            ),
            ("[[config]]\nnla = false\n", 1, "id"),
            ("[matrix]\nnla = [true\n", 2, ""),
        ];
        for (text, line, needle) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.line, *line, "{text:?}: {err}");
            assert!(err.column >= 1, "{text:?}: {err}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
    }
}
