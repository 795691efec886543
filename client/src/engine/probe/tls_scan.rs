//! Every TLS version and suite the server accepts, with both of rdpshim's stacks.
//!
//! Per version, the way sslscan does it: offer everything, note the suite the server picks,
//! take it out of the offer, repeat until the server refuses. The first pick is the
//! server's preference. OpenSSL (security level 0) covers all versions and every suite the
//! server may speak; rustls runs the same loop over its own suites for TLS 1.2 and 1.3, so
//! the report can say what a modern client gets. Each handshake is a fresh TCP connection
//! with its own X.224 exchange, because RDP starts TLS only after X.224.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::super::tls::probe::{rustls_suites, Negotiated, Offer, OPENSSL_ALL, OPENSSL_TLS13_ALL};
use super::Target;
use crate::attempt::{TlsStack, TlsVersion};
use crate::diagnose::findings::{Refusal, SuiteFinding, TlsScan, VersionScan};

/// A server cannot accept more suites than OpenSSL has; this only stops a server that
/// keeps answering with a suite we did not offer.
const MAX_HANDSHAKES_PER_CHAIN: usize = 200;

const VERSIONS: [TlsVersion; 4] = [
    TlsVersion::Tls10,
    TlsVersion::Tls11,
    TlsVersion::Tls12,
    TlsVersion::Tls13,
];

/// One offer-and-remove loop.
struct Chain {
    stack: TlsStack,
    version: TlsVersion,
    accepted: Vec<Negotiated>,
    /// Why the first handshake failed, when it did.
    refusal: Option<Refusal>,
    handshakes: usize,
}

/// Scans with X.224 requesting `requested` before each handshake (`None`: TLS straight
/// away, as an RD Gateway's HTTPS).
pub async fn scan(target: Arc<Target>, requested: Option<u32>) -> (TlsScan, Option<Vec<u8>>) {
    // One handshake that any TLS server completes first: a server that never answers a
    // ClientHello (or never selects TLS) costs one time limit, not one per chain.
    if let Err(why) = target.tls_handshake(requested, &Offer::Anything).await {
        let versions = VERSIONS
            .iter()
            .map(|&version| VersionScan {
                version,
                accepted: false,
                preferred: None,
                suites: Vec::new(),
                refusal: Some(why.clone()),
            })
            .collect();
        let scan = TlsScan {
            requested,
            versions,
            modern_client_ok: false,
            handshakes: 1,
        };
        return (scan, None);
    }
    let mut tasks = JoinSet::new();
    for version in VERSIONS {
        tasks.spawn(chain(target.clone(), requested, TlsStack::Openssl, version));
        if version >= TlsVersion::Tls12 {
            tasks.spawn(chain(target.clone(), requested, TlsStack::Rustls, version));
        }
    }
    let mut chains = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(chain) = joined {
            chains.push(chain);
        }
    }
    let certificate = chains
        .iter()
        .flat_map(|c| c.accepted.first())
        .map(|n| n.certificate_der.clone())
        .next();
    (merge(requested, &chains), certificate)
}

fn merge(requested: Option<u32>, chains: &[Chain]) -> TlsScan {
    let versions = VERSIONS
        .iter()
        .map(|&version| {
            let openssl = chains
                .iter()
                .find(|c| c.version == version && c.stack == TlsStack::Openssl);
            let mut suites: Vec<SuiteFinding> = Vec::new();
            // OpenSSL first: its order is the server's preference order.
            for chain in [TlsStack::Openssl, TlsStack::Rustls]
                .iter()
                .flat_map(|stack| {
                    chains
                        .iter()
                        .filter(move |c| c.version == version && c.stack == *stack)
                })
            {
                for n in &chain.accepted {
                    match suites.iter_mut().find(|s| s.iana == n.iana) {
                        Some(known) => {
                            if !known.stacks.contains(&n.stack) {
                                known.stacks.push(n.stack);
                            }
                        }
                        None => suites.push(SuiteFinding {
                            name: n.name.clone(),
                            iana: n.iana.clone(),
                            stacks: vec![n.stack],
                            aead: n.aead,
                            forward_secrecy: n.forward_secrecy,
                            bits: n.bits,
                        }),
                    }
                }
            }
            VersionScan {
                version,
                accepted: !suites.is_empty(),
                preferred: openssl
                    .and_then(|c| c.accepted.first())
                    .map(|n| n.name.clone()),
                suites,
                refusal: openssl.and_then(|c| c.refusal.clone()),
            }
        })
        .collect();
    TlsScan {
        requested,
        versions,
        modern_client_ok: chains
            .iter()
            .any(|c| c.stack == TlsStack::Rustls && !c.accepted.is_empty()),
        handshakes: 1 + chains.iter().map(|c| c.handshakes).sum::<usize>(),
    }
}

async fn chain(
    target: Arc<Target>,
    requested: Option<u32>,
    stack: TlsStack,
    version: TlsVersion,
) -> Chain {
    let mut chain = Chain {
        stack,
        version,
        accepted: Vec::new(),
        refusal: None,
        handshakes: 0,
    };
    let mut taken: Vec<String> = Vec::new();
    while chain.handshakes < MAX_HANDSHAKES_PER_CHAIN {
        let Some(offer) = offer(stack, version, &taken) else {
            break;
        };
        chain.handshakes += 1;
        match target.tls_handshake(requested, &offer).await {
            Ok(n) if n.version == version && !taken.contains(&n.name) => {
                taken.push(n.name.clone());
                chain.accepted.push(n);
            }
            Ok(n) => {
                tracing::debug!(name = %n.name, "server chose a suite or version not offered");
                break;
            }
            Err(why) => {
                if chain.accepted.is_empty() {
                    chain.refusal = Some(why);
                }
                break;
            }
        }
    }
    chain
}

/// The offer for the next handshake: everything of `stack` for `version` but `taken`;
/// `None` when nothing is left to offer.
fn offer(stack: TlsStack, version: TlsVersion, taken: &[String]) -> Option<Offer> {
    let remaining = |all: Vec<String>| -> Vec<String> {
        all.into_iter().filter(|s| !taken.contains(s)).collect()
    };
    match (stack, version) {
        (TlsStack::Rustls, _) => {
            let suites = remaining(rustls_suites(version));
            (!suites.is_empty()).then_some(Offer::Rustls { version, suites })
        }
        (TlsStack::Openssl, TlsVersion::Tls13) => {
            let suites = remaining(OPENSSL_TLS13_ALL.iter().map(|s| s.to_string()).collect());
            (!suites.is_empty()).then(|| Offer::Openssl {
                version,
                cipher_list: format!("{OPENSSL_ALL}:@SECLEVEL=0"),
                tls13_suites: suites.join(":"),
            })
        }
        (TlsStack::Openssl, _) => {
            let excluded: String = taken.iter().map(|s| format!(":!{s}")).collect();
            Some(Offer::Openssl {
                version,
                cipher_list: format!("{OPENSSL_ALL}{excluded}:@SECLEVEL=0"),
                tls13_suites: OPENSSL_TLS13_ALL.join(":"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_shrink_until_nothing_is_left() {
        let all13 = OPENSSL_TLS13_ALL.map(String::from).to_vec();
        assert!(offer(TlsStack::Openssl, TlsVersion::Tls13, &all13).is_none());
        let rustls13 = rustls_suites(TlsVersion::Tls13);
        assert_eq!(rustls13.len(), 3);
        assert!(offer(TlsStack::Rustls, TlsVersion::Tls13, &rustls13).is_none());
        let Some(Offer::Openssl { cipher_list, .. }) =
            offer(TlsStack::Openssl, TlsVersion::Tls12, &["AES128-SHA".into()])
        else {
            panic!("an OpenSSL TLS 1.2 offer");
        };
        assert!(cipher_list.contains(":!AES128-SHA"));
        assert!(cipher_list.ends_with("@SECLEVEL=0"));
    }
}
