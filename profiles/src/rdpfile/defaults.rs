//! The properties an exported file carries when the profile says nothing else: what a
//! file saved by mstsc's "Save As" holds, minus window positions and gateway settings.
//!
//! Security choices, and why:
//! - `authentication level:i:2` ("warn me"), never 0. Level 0 makes mstsc connect silently
//!   to *any* certificate, so an exported file would accept a man in the middle forever.
//!   With 2, a self-signed or expired certificate (most RDP servers) shows one warning; the
//!   user compares it with the pinned fingerprint rdpshim printed and can tick "Don't ask me
//!   again", after which mstsc remembers that certificate. So the export still connects
//!   (one click) and server authentication keeps its meaning. A user's own imported value
//!   (kept in `rdp_extra`) is respected.
//! - `prompt for credentials:i:0`: the file holds no password, so mstsc asks for one anyway
//!   (or uses its own saved credential); 1 would also ask when one is saved.
//! - `negotiate security layer:i:1`: TLS/NLA negotiation, as every grade rdpshim reaches
//!   uses TLS.
//! - `redirectprinters`, `redirectsmartcards`, `redirectcomports`: off. Sharing local
//!   devices with a server is the user's decision, not an export default.

/// Security-relevant properties, written right after the address and user.
pub const SECURITY: &[(&str, &str)] = &[
    ("enablecredsspsupport", "i:1"),
    ("authentication level", "i:2"),
    ("negotiate security layer", "i:1"),
    ("prompt for credentials", "i:0"),
];

/// Session and redirection defaults, written after the security block.
pub const SESSION: &[(&str, &str)] = &[
    ("screen mode id", "i:2"),
    ("use multimon", "i:0"),
    ("desktopwidth", "i:1920"),
    ("desktopheight", "i:1080"),
    ("session bpp", "i:32"),
    ("compression", "i:1"),
    ("keyboardhook", "i:2"),
    ("audiomode", "i:0"),
    ("audiocapturemode", "i:0"),
    ("videoplaybackmode", "i:1"),
    ("connection type", "i:7"),
    ("networkautodetect", "i:1"),
    ("bandwidthautodetect", "i:1"),
    ("displayconnectionbar", "i:1"),
    ("autoreconnection enabled", "i:1"),
    ("redirectclipboard", "i:1"),
    ("redirectprinters", "i:0"),
    ("redirectcomports", "i:0"),
    ("redirectsmartcards", "i:0"),
    ("redirectposdevices", "i:0"),
    ("drivestoredirect", "s:"),
    ("use redirection server name", "i:0"),
];

/// The default `"type:value"` for `name` (case-insensitive), if it has one.
pub fn default_for(name: &str) -> Option<&'static str> {
    SECURITY
        .iter()
        .chain(SESSION)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}
