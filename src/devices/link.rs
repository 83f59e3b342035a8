//! The seam between transports and the driver: a transport's open connection
//! is a [`Link`] that yields [`Chunk`]s; [`pump`] frames them and publishes
//! [`DeviceEvent`]s until the link fails, ends or the task is cancelled.
//!
//! Must never: log or put into a reason the bytes of a frame, or lose bytes
//! when a `select!` cancels a pending read (every `Link::next` is cancel-safe).

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::framing::{FrameCodec, FrameError, FrameItem};
use super::{DeviceError, DeviceEvent, Framing};

/// What a transport delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Stream bytes (serial, TCP, keyboard wedge): the driver's framing applies.
    Bytes(Vec<u8>),
    /// One frame the transport already delimited (HID POS report, simulated
    /// line): prefix/suffix stripping and max_len still apply.
    Frame(Vec<u8>),
    /// Input the transport could not make sense of (e.g. a malformed report).
    Bad(String),
}

/// An open device. `next` must be cancel-safe: dropping its future before it
/// completes loses no input.
pub trait Link: Send {
    /// The next chunk; `Ok(None)` when the device closed its end.
    fn next(&mut self) -> impl Future<Output = Result<Option<Chunk>, DeviceError>> + Send;
}

/// A link over any byte stream (serial port, TCP socket, test duplex).
pub struct ReadLink<R> {
    inner: R,
    what: &'static str,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin + Send> ReadLink<R> {
    pub fn new(inner: R, what: &'static str) -> Self {
        ReadLink {
            inner,
            what,
            buf: vec![0; 4096],
        }
    }
}

impl<R: AsyncRead + Unpin + Send> Link for ReadLink<R> {
    async fn next(&mut self) -> Result<Option<Chunk>, DeviceError> {
        // `read` is cancel-safe: no byte is taken from the source unless it returns.
        match self.inner.read(&mut self.buf).await {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(Chunk::Bytes(self.buf[..n].to_vec()))),
            Err(e) => Err(DeviceError::from_io(self.what, &e)),
        }
    }
}

/// Why [`pump`] returned.
#[derive(Debug)]
pub enum PumpEnd {
    /// The cancellation token fired.
    Cancelled,
    /// Whoever receives the events is gone: nothing left to do.
    ReceiverGone,
    /// The device closed its end (EOF).
    Closed,
    /// Reading failed.
    Failed(DeviceError),
}

/// Read `link` through the framing and send every frame and bad frame to
/// `events` until the link ends, fails, or `cancel` fires. The idle timeout
/// is measured from the last byte received.
pub async fn pump<L: Link>(
    link: &mut L,
    framing: &Framing,
    device_id: &str,
    events: &mpsc::Sender<DeviceEvent>,
    cancel: &CancellationToken,
) -> PumpEnd {
    let mut codec = FrameCodec::new(framing);
    let mut buf = BytesMut::new();
    let mut last_byte = Instant::now();
    let idle: Option<Duration> = framing.idle_timeout;
    loop {
        let deadline = match idle {
            Some(d) if !buf.is_empty() => Some(last_byte + d),
            _ => None,
        };
        let mut items = Vec::new();
        let mut end = None;
        tokio::select! {
            biased;
            () = cancel.cancelled() => return PumpEnd::Cancelled,
            () = sleep_until_opt(deadline) => items.extend(codec.idle(&mut buf)),
            next = link.next() => match next {
                Ok(Some(Chunk::Bytes(bytes))) => {
                    last_byte = Instant::now();
                    buf.extend_from_slice(&bytes);
                    while let Ok(Some(item)) = codec.decode(&mut buf) {
                        items.push(item);
                    }
                }
                Ok(Some(Chunk::Frame(frame))) => items.extend(codec.delimited(frame)),
                Ok(Some(Chunk::Bad(reason))) => {
                    items.push(FrameItem::Bad(FrameError::Transport(reason)));
                }
                Ok(None) => {
                    while let Ok(Some(item)) = codec.decode_eof(&mut buf) {
                        items.push(item);
                    }
                    end = Some(PumpEnd::Closed);
                }
                Err(e) => end = Some(PumpEnd::Failed(e)),
            },
        }
        for item in items {
            let event = match item {
                FrameItem::Frame(bytes) => DeviceEvent::Frame {
                    device_id: device_id.to_owned(),
                    bytes,
                    received: std::time::Instant::now(),
                },
                FrameItem::Bad(e) => {
                    tracing::warn!(device = device_id, reason = %e, "bad frame");
                    DeviceEvent::BadFrame {
                        device_id: device_id.to_owned(),
                        reason: e.to_string(),
                    }
                }
            };
            // A stalled receiver must not keep shutdown waiting.
            tokio::select! {
                sent = events.send(event) => if sent.is_err() {
                    return PumpEnd::ReceiverGone;
                },
                () = cancel.cancelled() => return PumpEnd::Cancelled,
            }
        }
        if let Some(end) = end {
            return end;
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frames(events: &mut mpsc::Receiver<DeviceEvent>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(ev) = events.try_recv() {
            match ev {
                DeviceEvent::Frame { bytes, .. } => {
                    out.push(String::from_utf8_lossy(&bytes).into_owned())
                }
                DeviceEvent::BadFrame { reason, .. } => out.push(format!("!{reason}")),
                DeviceEvent::State { .. } => out.push("state".into()),
            }
        }
        out
    }

    /// Idle timeout with paused time: a pause ends the frame, bytes arriving
    /// closer together than the timeout stay in one frame.
    #[tokio::test(start_paused = true)]
    async fn idle_timeout_ends_frames_without_suffix() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let framing = Framing {
            prefix: Vec::new(),
            suffix: Vec::new(),
            max_len: 64,
            idle_timeout: Some(Duration::from_millis(100)),
        };
        let (events_tx, mut events) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let pump_cancel = cancel.clone();
        let task = tokio::spawn(async move {
            let mut link = ReadLink::new(rx, "test");
            pump(&mut link, &framing, "dev", &events_tx, &pump_cancel).await
        });
        tx.write_all(b"400638").await.expect("write");
        tokio::time::sleep(Duration::from_millis(60)).await;
        tx.write_all(b"1333931").await.expect("write");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(frames(&mut events), Vec::<String>::new(), "pause < timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(frames(&mut events), vec!["4006381333931"]);
        tx.write_all(b"abc").await.expect("write");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(frames(&mut events), vec!["abc"]);
        cancel.cancel();
        assert!(matches!(task.await.expect("join"), PumpEnd::Cancelled));
    }

    #[tokio::test(start_paused = true)]
    async fn end_of_stream_reports_a_cut_frame_and_closes() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let framing = Framing::default();
        let (events_tx, mut events) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        tx.write_all(b"123\r45").await.expect("write");
        drop(tx);
        let mut link = ReadLink::new(rx, "test");
        let end = pump(&mut link, &framing, "dev", &events_tx, &cancel).await;
        assert!(matches!(end, PumpEnd::Closed));
        assert_eq!(
            frames(&mut events),
            vec![
                "123".to_string(),
                "!stream ended inside a frame (2 bytes without suffix)".to_string()
            ]
        );
    }
}
