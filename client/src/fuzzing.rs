//! Entry points for the fuzz targets in `fuzz/` and the stable harness that `cargo test`
//! runs (`tests/integration/fuzz_network.rs`): pure functions over bytes a server controls.
//! Each must never panic, and each asserts what its parser promises; a broken promise
//! panics, which is what the fuzzers look for.

use std::future::Future as _;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use ironrdp_async::bytes::BytesMut;
use ironrdp_pdu::nego::SecurityProtocol;

use crate::diagnose::findings::X224Answer;
use crate::engine::framing::{measure, read_frame, Frame, FrameError, Size, MAX_TS_REQUEST};
use crate::engine::probe::{decode_confirm, parse_challenge, read_challenge};
use crate::engine::{cert, x224};
use crate::report::FailureClass;

/// The X.224 Connection Confirm decoder (`diagnose`'s probes) and the engine's check on top
/// of it: a selection is one protocol, the engine accepts only one it requested, and names
/// one it did not request as exactly that protocol (for the planner to follow).
pub fn x224_confirm(data: &[u8]) {
    let answer = decode_confirm(data);
    if let X224Answer::Selected { selected, .. } = &answer {
        assert!(
            matches!(selected, 0 | 1 | 2 | 4 | 8),
            "selected 0x{selected:x} decoded as one protocol"
        );
    }
    let requests = [
        SecurityProtocol::SSL,
        SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
    ];
    for requested in requests {
        match x224::check_confirm(data, requested) {
            Ok(()) => match &answer {
                X224Answer::Selected { selected, .. } => assert!(
                    *selected != 0 && requested.bits() & selected == *selected,
                    "accepted 0x{selected:x} for 0x{:x}",
                    requested.bits()
                ),
                X224Answer::Refused { .. } => {}
                other => panic!("accepted {other:?}"),
            },
            // Followed by the planner: exactly one valid protocol, outside the request.
            Err(failure) => {
                if let FailureClass::UnrequestedProtocol(protocol) = failure.class {
                    assert!(
                        matches!(&answer, X224Answer::Selected { selected, .. }
                            if *selected == protocol.bits() && requested.bits() & selected == 0),
                        "{protocol} named unrequested for {answer:?}"
                    );
                }
            }
        }
    }
}

/// The TSRequest reader of the NLA probe: the capped DER framing, then the decoding down
/// to the NTLM CHALLENGE.
pub fn ts_request(data: &[u8]) {
    match measure(Frame::TsRequest, data) {
        Ok(Size::Frame(len)) => {
            assert!(
                len <= MAX_TS_REQUEST,
                "a {len}-byte TSRequest passed the cap"
            );
            if let Some(frame) = data.get(..len) {
                let _ = read_challenge(frame);
            }
        }
        Ok(Size::Header(need)) => assert!(need > data.len() && need <= 6, "header {need}"),
        Err(_) => {}
    }
}

/// The NTLM CHALLENGE reader: every name it returns comes from the message (UTF-16, so
/// at most half as many characters as the message has bytes).
pub fn ntlm_challenge(data: &[u8]) {
    if let Ok(identity) = parse_challenge(data) {
        for name in [
            &identity.target_name,
            &identity.netbios_domain,
            &identity.netbios_computer,
            &identity.dns_domain,
            &identity.dns_computer,
            &identity.dns_tree,
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                name.chars().count() <= data.len() / 2,
                "a name longer than the message"
            );
        }
    }
}

/// The certificate summary: the pinning facts and the `diagnose` details agree, and the
/// fingerprint always has the form users compare.
pub fn certificate(data: &[u8]) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200);
    let fingerprint = cert::fingerprint(data);
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    match (cert::inspect(data, now), cert::details(data, now)) {
        (Ok(inspected), Ok(details)) => {
            assert_eq!(inspected.info, details.info);
            assert_eq!(inspected.info.sha256, fingerprint);
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "inspect and details disagree: {:?} vs {:?}",
            a.map(|i| i.info),
            b.map(|d| d.info)
        ),
    }
}

/// The capped framing (a bridge reads its client through it too): sizes within each kind's
/// bounds, a header that asks for more than it has, and frames read back to back from
/// `data` exactly as measured, never past its end.
pub fn framing(data: &[u8]) {
    for (frame, min, max) in [
        (Frame::X224Confirm, 11, 260),
        (Frame::X224Request, 11, 260),
        (Frame::Rdp, 2, 0xFFFF),
        (Frame::TsRequest, 2, MAX_TS_REQUEST),
        (Frame::Fixed(4), 4, 4),
    ] {
        match measure(frame, data) {
            Ok(Size::Frame(len)) => assert!((min..=max).contains(&len), "{frame:?}: {len}"),
            Ok(Size::Header(need)) => assert!(need > data.len(), "{frame:?}: header {need}"),
            Err(_) => {}
        }
    }
    let mut rest = data;
    let mut leftover = BytesMut::new();
    loop {
        let before = rest.len();
        match read_now(&mut rest, &mut leftover, Frame::Rdp) {
            Ok(frame) => {
                assert_eq!(
                    measure(Frame::Rdp, &frame).ok(),
                    Some(Size::Frame(frame.len()))
                );
                // Exactly the frame was read: nothing of the next one is buffered.
                assert_eq!(before - rest.len(), frame.len(), "read past the frame");
                assert!(leftover.is_empty());
            }
            Err(FrameError::Io(_) | FrameError::Malformed { .. } | FrameError::TooLong { .. }) => {
                return
            }
            Err(other) => panic!("{other}"),
        }
    }
}

/// Polls `read_frame` on an in-memory stream, which is always ready.
fn read_now(
    rest: &mut &[u8],
    leftover: &mut BytesMut,
    frame: Frame,
) -> Result<BytesMut, FrameError> {
    let mut future = pin!(read_frame(rest, leftover, frame));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("an in-memory read is never pending"),
    }
}
