//! Does a certificate name the host the way the user typed it? RFC 6125 matching,
//! simplified: case-insensitive, a trailing dot ignored, `*.` matching exactly one
//! left-most label, an IP address only by an IP entry (never by a wildcard).

/// `names` are a certificate's subjectAltName DNS and IP entries (else its CN).
pub fn name_matches(names: &[String], wanted: &str) -> bool {
    let wanted = wanted.trim_end_matches('.').to_ascii_lowercase();
    let wanted_is_ip = wanted.parse::<std::net::IpAddr>().is_ok();
    names.iter().any(|name| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(_) if wanted_is_ip => false,
            Some(suffix) => wanted
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => same_host(&name, &wanted),
        }
    })
}

/// Equal names, or equal IP addresses however written (`::1` and `0:0::1`).
fn same_host(name: &str, wanted: &str) -> bool {
    match (
        name.parse::<std::net::IpAddr>(),
        wanted.parse::<std::net::IpAddr>(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => name == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_label_and_ips_match_ip_entries() {
        let names = vec![
            "*.corp.example".to_owned(),
            "10.0.0.5".to_owned(),
            "::1".to_owned(),
        ];
        assert!(name_matches(&names, "srv.corp.example"));
        assert!(name_matches(&names, "SRV.corp.example."));
        assert!(!name_matches(&names, "a.srv.corp.example"));
        assert!(!name_matches(&names, "corp.example"));
        assert!(name_matches(&names, "10.0.0.5"));
        assert!(name_matches(&names, "0:0::1"));
        assert!(!name_matches(&["*.0.0.5".to_owned()], "10.0.0.5"));
        assert!(!name_matches(&[], "srv"));
    }
}
