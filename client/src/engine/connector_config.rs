//! The one place that builds ironrdp's `connector::Config` (~45 public fields, no
//! `Default`): every field rdpshim does not vary is fixed here, with the reason.

use ironrdp_connector::{Config, Credentials, DesktopSize};
use ironrdp_pdu::gcc::{self, MultiTransportFlags};
use ironrdp_pdu::nego::NegoRequestData;
use ironrdp_pdu::rdp::capability_sets::{MajorPlatformType, RailSupportLevel};
use ironrdp_pdu::rdp::client_info::PerformanceFlags;

use crate::attempt::{AttemptSpec, Nla};

/// The desktop we ask for. Servers may answer with another size (xrdp uses ours; a shadow
/// server uses its own screen), and the report carries what the server chose.
pub const DESKTOP: DesktopSize = DesktopSize {
    width: 1024,
    height: 768,
};

/// What mstsc advertises when UDP is allowed: both reliable and lossy UDP, preferring UDP,
/// with Soft-Sync (MS-RDPBCGR 2.2.1.3.8).
fn udp_flags() -> MultiTransportFlags {
    MultiTransportFlags::TRANSPORT_TYPE_UDP_FECR
        | MultiTransportFlags::TRANSPORT_TYPE_UDP_FECL
        | MultiTransportFlags::TRANSPORT_TYPE_UDP_PREFERRED
        | MultiTransportFlags::SOFT_SYNC_TCP_TO_UDP
}

/// The CredSSP identity of `spec`: user name, password, domain. Empty for TLS-only servers
/// (xrdp), which show their own login screen and need none.
pub fn identity(spec: &AttemptSpec) -> (Credentials, Option<String>) {
    match &spec.credentials {
        Some(c) => (
            Credentials::UsernamePassword {
                username: c.username.clone(),
                password: c.password.expose().to_owned(),
            },
            c.domain.clone(),
        ),
        None => (
            Credentials::UsernamePassword {
                username: String::new(),
                password: String::new(),
            },
            None,
        ),
    }
}

pub fn build(spec: &AttemptSpec) -> Config {
    let (credentials, domain) = identity(spec);
    let password_is_empty = spec
        .credentials
        .as_ref()
        .is_none_or(|c| c.password.is_empty());
    let no_user = spec
        .credentials
        .as_ref()
        .is_none_or(|c| c.username.is_empty());
    Config {
        desktop_size: DESKTOP,
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        // ironrdp requests SSL for `enable_tls` and HYBRID|HYBRID_EX for `enable_credssp`,
        // which is exactly `planner::protocol::offered`: NLA on requests HYBRID|HYBRID_EX
        // *only* (offering SSL too would let anyone on the path answer "SSL selected" and
        // skip NLA unnoticed), off SSL only, negotiate all three (mstsc's request; the
        // ladder announces a TLS selection before anything is sent over TLS).
        enable_tls: spec.nla != Nla::On,
        enable_credssp: spec.nla != Nla::Off,
        // IronRDP does Standard RDP Security only without encryption: never over a network.
        enable_standard_rdp_security: false,
        credentials,
        domain,
        client_build: 0,
        client_name: "rdpshim".to_owned(),
        keyboard_type: gcc::KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: 0x409,
        connection_type: gcc::ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: None,
        dig_product_id: String::new(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".to_owned(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: RailSupportLevel::empty(),
        platform: platform(),
        hardware_id: None,
        // A routing cookie (MS-RDPBCGR 2.2.1.1) in every request, as mstsc sends: ironrdp
        // writes `mstshash=USER` when there is a user name; without one, `rdpshim` (what
        // diagnose's requests carry). Its CR LF is what a line-reading server on the port (a
        // web server) answers at once, so such a port is named for what it is (not-rdp)
        // instead of waiting out the X.224 time limit; HYBRID|HYBRID_EX alone (0x0A) used
        // to supply that line break by accident.
        request_data: no_user.then(|| NegoRequestData::cookie("rdpshim".to_owned())),
        // With TLS-only security the credentials travel in the Client Info PDU; a server
        // that checks them (FreeRDP shadow) only logs on with INFO_AUTOLOGON.
        autologon: !password_is_empty,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: Default::default(),
        compression_type: None,
        // No pointer handling: rdpshim proves a connection, it does not draw a cursor.
        enable_server_pointer: false,
        pointer_software_rendering: true,
        multitransport_flags: spec.udp.then(udp_flags),
        support_dyn_vc_gfx_protocol: false,
    }
}

fn platform() -> MajorPlatformType {
    if cfg!(target_os = "macos") {
        MajorPlatformType::MACINTOSH
    } else {
        MajorPlatformType::UNIX
    }
}
