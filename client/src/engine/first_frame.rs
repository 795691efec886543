//! The active session, until the first graphics update is decoded.
//!
//! A connection is only proven when pixels arrive: servers can finish the connection
//! sequence and then drop the session (FreeRDP's TLS-only shadow server does, seconds after
//! login, for accounts it does not know).

use std::path::Path;
use std::time::Duration;

use ironrdp_connector::ConnectionResult;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageBuilder, ActiveStageOutput};
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::time::Instant;

use super::classify::io_failure;
use super::deadline::secs;
use super::screenshot;
use super::tls::BoxStream;
use crate::report::{Failure, FailureClass, Stage};

/// After the first update, how long to keep drawing for a screenshot: until the server is
/// quiet this long (login screens arrive in several updates)...
const SETTLE_QUIET: Duration = Duration::from_millis(400);
/// ...but no longer than this.
const SETTLE_MAX: Duration = Duration::from_secs(3);

pub struct FirstFrame {
    pub width: u16,
    pub height: u16,
    /// From the start of the active stage to the first decoded update.
    pub after: Duration,
    /// Outcome of writing the PNG, when one was asked for.
    pub screenshot: Option<Result<(), String>>,
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
    let mut image = DecodedImage::new(PixelFormat::RgbA32, desktop.width, desktop.height);
    let mut stage = active_stage(result);

    let started = Instant::now();
    let deadline = started + limit;
    let first_at = loop {
        match tokio::time::timeout_at(deadline, step(framed, &mut stage, &mut image)).await {
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
                match tokio::time::timeout_at(quiet_deadline, step(framed, &mut stage, &mut image))
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

/// Reads and processes one PDU; `Ok(true)` when it drew something.
async fn step(
    framed: &mut TokioFramed<BoxStream>,
    stage: &mut ActiveStage,
    image: &mut DecodedImage,
) -> Result<bool, Failure> {
    let (action, frame) = framed
        .read_pdu()
        .await
        .map_err(|e| io_failure(Stage::FirstFrame, &e))?;
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
