//! The active session, until the first graphics update is decoded.
//!
//! A connection is only proven when pixels arrive: servers can finish the connection
//! sequence and then drop the session (FreeRDP's TLS-only shadow server does, seconds after
//! login, for accounts it does not know).

use std::path::Path;
use std::time::Duration;

use ironrdp_connector::ConnectionResult;
use ironrdp_core::{decode, decode_cursor, ReadCursor};
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_pdu::fast_path::{FastPathHeader, FastPathUpdatePdu, Fragmentation};
use ironrdp_pdu::Action;
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageBuilder, ActiveStageOutput};
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::time::Instant;

use super::classify::io_failure;
use super::deadline::secs;
use super::framing::{self, Frame};
use super::screenshot;
use super::tls::BoxStream;
use crate::report::{Failure, FailureClass, Stage};

/// After the first update, how long to keep drawing for a screenshot: until the server is
/// quiet this long (login screens arrive in several updates)...
const SETTLE_QUIET: Duration = Duration::from_millis(400);
/// ...but no longer than this.
const SETTLE_MAX: Duration = Duration::from_secs(3);
/// The largest desktop a server may announce: MS-RDPBCGR 2.2.1.3.2 caps both sides at 8192.
/// (The picture is allocated at that size before the first update arrives.)
const MAX_DESKTOP_SIDE: u16 = 8192;
/// The most fast-path fragment bytes (FIRST, NEXT.., MS-RDPBCGR 2.2.9.1.2.1) in flight
/// before their LAST: ironrdp-session piles them up with no limit of its own, and its client
/// capabilities tell the server 8 MiB is the largest reassembled update we take
/// (TS_MULTIFRAGMENTUPDATE_CAPABILITYSET, MaxRequestSize).
const MAX_REASSEMBLED: usize = 8 * 1024 * 1024;

pub struct FirstFrame {
    pub width: u16,
    pub height: u16,
    /// From the start of the active stage to the first decoded update.
    pub after: Duration,
    /// Outcome of writing the PNG, when one was asked for.
    pub screenshot: Option<Result<(), screenshot::ScreenshotError>>,
}

/// Processes server PDUs until a graphics update is decoded; with `screenshot`, keeps
/// drawing until the screen settles and writes it as PNG.
pub async fn wait(
    framed: &mut TokioFramed<BoxStream>,
    result: ConnectionResult,
    limit: Duration,
    screenshot_path: Option<&Path>,
) -> Result<FirstFrame, Failure> {
    let desktop = result.desktop_size;
    if desktop.width > MAX_DESKTOP_SIDE || desktop.height > MAX_DESKTOP_SIDE {
        return Err(Failure::new(
            Stage::FirstFrame,
            FailureClass::ProtocolError,
            format!(
                "the server announced a {}x{} desktop, over the {MAX_DESKTOP_SIDE}x{MAX_DESKTOP_SIDE} MS-RDPBCGR allows",
                desktop.width, desktop.height
            ),
        ));
    }
    let mut image = DecodedImage::new(PixelFormat::RgbA32, desktop.width, desktop.height);
    let mut stage = active_stage(result);
    let mut fragments = Fragments::default();

    let started = Instant::now();
    let deadline = started + limit;
    let first_at = loop {
        match tokio::time::timeout_at(
            deadline,
            step(framed, &mut stage, &mut image, &mut fragments),
        )
        .await
        {
            Err(_) => {
                return Err(Failure::new(
                    Stage::FirstFrame,
                    FailureClass::Timeout,
                    format!("connected, but no graphics update within {}", secs(limit)),
                ));
            }
            Ok(Err(failure)) => return Err(failure),
            Ok(Ok(true)) => break Instant::now(),
            Ok(Ok(false)) => continue,
        }
    };

    let screenshot = match screenshot_path {
        None => None,
        Some(path) => {
            // Keep drawing until the server goes quiet; a failure now does not undo the
            // connection we already proved.
            let settle_deadline = first_at + SETTLE_MAX;
            loop {
                let quiet_deadline = (Instant::now() + SETTLE_QUIET).min(settle_deadline);
                match tokio::time::timeout_at(
                    quiet_deadline,
                    step(framed, &mut stage, &mut image, &mut fragments),
                )
                .await
                {
                    Ok(Ok(_)) if Instant::now() < settle_deadline => continue,
                    _ => break,
                }
            }
            Some(screenshot::write_png(path, &image))
        }
    };

    Ok(FirstFrame {
        width: image.width(),
        height: image.height(),
        after: first_at - started,
        screenshot,
    })
}

fn active_stage(result: ConnectionResult) -> ActiveStage {
    ActiveStageBuilder {
        static_channels: result.static_channels,
        user_channel_id: result.user_channel_id,
        io_channel_id: result.io_channel_id,
        message_channel_id: result.message_channel_id,
        share_id: result.share_id,
        compression_type: result.compression_type,
        enable_server_pointer: result.enable_server_pointer,
        pointer_software_rendering: result.pointer_software_rendering,
    }
    .build()
}

/// Fast-path fragment bytes waiting for their LAST fragment.
#[derive(Default)]
struct Fragments {
    in_flight: usize,
}

impl Fragments {
    /// Counts the fragments in a fast-path PDU; an update that does not decode is left to
    /// ironrdp-session to report.
    fn account(&mut self, frame: &[u8]) -> Result<(), Failure> {
        let Ok(header) = decode::<FastPathHeader>(frame) else {
            return Ok(());
        };
        let Some(body) = frame
            .len()
            .checked_sub(header.data_length)
            .map(|at| &frame[at..])
        else {
            return Ok(());
        };
        let mut cursor = ReadCursor::new(body);
        while !cursor.is_empty() {
            let Ok(update) = decode_cursor::<FastPathUpdatePdu<'_>>(&mut cursor) else {
                return Ok(());
            };
            match update.fragmentation {
                Fragmentation::Single | Fragmentation::Last => self.in_flight = 0,
                Fragmentation::First => self.in_flight = update.data.len(),
                Fragmentation::Next => self.in_flight += update.data.len(),
            }
            if self.in_flight > MAX_REASSEMBLED {
                return Err(Failure::new(
                    Stage::FirstFrame,
                    FailureClass::ProtocolError,
                    format!(
                        "the server sent over {MAX_REASSEMBLED} bytes of fast-path fragments without the last one"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Reads and processes one PDU; `Ok(true)` when it drew something.
async fn step(
    framed: &mut TokioFramed<BoxStream>,
    stage: &mut ActiveStage,
    image: &mut DecodedImage,
    fragments: &mut Fragments,
) -> Result<bool, Failure> {
    let frame = framing::read(framed, Frame::Rdp)
        .await
        .map_err(|e| e.failure(Stage::FirstFrame))?;
    // `Frame::Rdp` has checked the first byte: X.224 (0x03) or fast-path (action bits 0).
    let action = match frame.first() {
        Some(0x03) => Action::X224,
        _ => Action::FastPath,
    };
    if action == Action::FastPath {
        fragments.account(&frame)?;
    }
    let outputs = stage.process(image, action, &frame, None).map_err(|e| {
        Failure::new(
            Stage::FirstFrame,
            FailureClass::ProtocolError,
            e.report().to_string(),
        )
    })?;
    let mut drew = false;
    for output in outputs {
        match output {
            ActiveStageOutput::ResponseFrame(bytes) => framed
                .write_all(&bytes)
                .await
                .map_err(|e| io_failure(Stage::FirstFrame, &e))?,
            ActiveStageOutput::GraphicsUpdate(_) => drew = true,
            ActiveStageOutput::Terminate(reason) => {
                return Err(Failure::new(
                    Stage::FirstFrame,
                    FailureClass::PeerClosed,
                    format!(
                        "the server ended the session before the first frame: {}",
                        reason.description()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(drew)
}
