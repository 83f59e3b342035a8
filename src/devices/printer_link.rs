//! A printer link: the write half the readers' transports lack. One enum
//! over the transports (`tcp`, `serial`, `usblp`, `usb_printer`,
//! `simulated`), each able to take a job's bytes — in chunks, so progress
//! and a stall are visible — and to answer `DLE EOT` status queries.
//!
//! Must never: retry a write on its own (a job cut off midway may have
//! printed: the caller marks it uncertain), wait without a timer on a
//! printer that stopped reading or never answers, or log a job's bytes
//! (they hold customer names).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::printer_status::{
    query, ErrorByte, NotAStatus, OfflineByte, PaperByte, PrinterByte, Query, Status,
};
use super::{serial, usb_printer, DeviceError, PrinterTransport, Transport};

/// Bytes written per step: small enough that a stall shows within one
/// chunk, large enough not to matter for throughput (a 58 mm printer
/// prints ~10 KiB/s of raster).
pub const CHUNK: usize = 512;

/// A chunk that does not leave within this time is a stalled printer:
/// the job is cut off (and becomes uncertain). Generous: a printer feeding
/// a long raster image reads slowly, and the kernel's buffers fill first.
pub const WRITE_STALL: Duration = Duration::from_secs(30);

/// How long one status answer may take (an answering printer needs a few
/// milliseconds; one that never answers must not hold up its jobs).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// Why sending stopped; `sent` bytes had left (the job may be half printed).
#[derive(Debug, thiserror::Error)]
#[error("{reason} after {sent} of {total} bytes")]
pub struct SendError {
    pub sent: usize,
    pub total: usize,
    pub reason: String,
}

/// What a status query found.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No answer in time, an answer that is no status, or a transport
    /// that cannot answer: the printer is not known to be in trouble.
    #[error("status not readable: {0}")]
    NotReadable(String),
    /// The link itself failed (connection lost): reopen it.
    #[error(transparent)]
    Link(DeviceError),
}

/// An open link to one printer.
pub enum PrinterLink {
    Tcp(TcpStream),
    Serial(tokio_serial::SerialStream),
    Usblp(FdStream),
    UsbPrinter(usb_printer::UsbPrinterLink),
    Simulated(PathBuf),
}

impl std::fmt::Debug for PrinterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrinterLink::Tcp(_) => "PrinterLink::Tcp",
            PrinterLink::Serial(_) => "PrinterLink::Serial",
            PrinterLink::Usblp(_) => "PrinterLink::Usblp",
            PrinterLink::UsbPrinter(_) => "PrinterLink::UsbPrinter",
            PrinterLink::Simulated(_) => "PrinterLink::Simulated",
        })
    }
}

/// The transport table: one arm per transport.
pub async fn open(transport: &PrinterTransport) -> Result<PrinterLink, DeviceError> {
    match transport {
        PrinterTransport::Tcp { address } => open_tcp(address).await.map(PrinterLink::Tcp),
        PrinterTransport::Serial(Transport::Serial {
            path,
            baud,
            parity,
            data_bits,
            stop_bits,
            flow_control,
        }) => serial::open_stream(
            path,
            serial::LineSettings {
                baud: *baud,
                parity: *parity,
                data_bits: *data_bits,
                stop_bits: *stop_bits,
                flow_control: *flow_control,
            },
        )
        .map(PrinterLink::Serial),
        PrinterTransport::Serial(other) => Err(DeviceError::Failed(format!(
            "a serial printer needs serial settings, not {}",
            other.name()
        ))),
        PrinterTransport::Usblp { path } => FdStream::open(path).map(PrinterLink::Usblp),
        PrinterTransport::UsbPrinter {
            vid,
            pid,
            serial,
            detach_kernel_driver,
        } => usb_printer::open(*vid, *pid, serial.clone(), *detach_kernel_driver)
            .await
            .map(PrinterLink::UsbPrinter),
        PrinterTransport::Simulated { path } => {
            // Created at once, so a wrong directory shows as an error
            // before the first job.
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(|e| DeviceError::from_io(&format!("opening {}", path.display()), &e))?;
            Ok(PrinterLink::Simulated(path.clone()))
        }
    }
}

async fn open_tcp(address: &str) -> Result<TcpStream, DeviceError> {
    let address = if address
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        address.to_owned()
    } else {
        format!("{address}:{}", super::printer_config::DEFAULT_PRINTER_PORT)
    };
    let what = format!("connecting to printer {address}");
    let timeout = super::tcp::CONNECT_TIMEOUT;
    match tokio::time::timeout(timeout, TcpStream::connect(&address)).await {
        Ok(Ok(s)) => {
            // Status queries are 3 bytes; they must not wait for more.
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(DeviceError::from_io(&what, &e)),
        Err(_) => Err(DeviceError::NotPresent(format!(
            "{what}: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

impl PrinterLink {
    /// Whether `DLE EOT` can be asked at all (the simulated printer is a
    /// file: never).
    pub fn answers_status(&self) -> bool {
        !matches!(self, PrinterLink::Simulated(_))
    }

    /// Writes all of `bytes`, [`CHUNK`] at a time, each within
    /// [`WRITE_STALL`]; `progress` hears the bytes sent so far. On error
    /// the link is spent: drop it and open a new one.
    pub async fn send(
        &mut self,
        bytes: &[u8],
        mut progress: impl FnMut(usize),
    ) -> Result<(), SendError> {
        let total = bytes.len();
        let fail = |sent: usize, reason: String| SendError {
            sent,
            total,
            reason,
        };
        if let PrinterLink::Simulated(path) = self {
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&*path)
                .await
                .map_err(|e| fail(0, format!("opening {}: {e}", path.display())))?;
            file.write_all(bytes)
                .await
                .map_err(|e| fail(0, format!("writing {}: {e}", path.display())))?;
            file.flush().await.map_err(|e| fail(0, e.to_string()))?;
            progress(total);
            return Ok(());
        }
        let mut sent = 0;
        for chunk in bytes.chunks(CHUNK) {
            let wrote = match self {
                PrinterLink::Tcp(s) => timed_write(s, chunk).await,
                PrinterLink::Serial(s) => timed_write(s, chunk).await,
                PrinterLink::Usblp(s) => timed_write(s, chunk).await,
                PrinterLink::UsbPrinter(u) => u.write(chunk.to_vec(), WRITE_STALL).await,
                PrinterLink::Simulated(_) => Ok(()),
            };
            wrote.map_err(|reason| fail(sent, reason))?;
            sent += chunk.len();
            progress(sent);
        }
        Ok(())
    }

    /// Asks `DLE EOT` 1, 2, 4 (and 3 when 2 reports an error), each
    /// answer within [`STATUS_TIMEOUT`].
    pub async fn status(&mut self) -> Result<Status, StatusError> {
        if !self.answers_status() {
            return Err(StatusError::NotReadable(
                "the simulated printer has no status".into(),
            ));
        }
        self.drain().await?;
        let bad = |e: NotAStatus| StatusError::NotReadable(e.to_string());
        let printer = PrinterByte::parse(self.ask(Query::Printer).await?).map_err(bad)?;
        let offline = OfflineByte::parse(self.ask(Query::OfflineCause).await?).map_err(bad)?;
        let error = if offline.error {
            Some(ErrorByte::parse(self.ask(Query::ErrorCause).await?).map_err(bad)?)
        } else {
            None
        };
        let paper = PaperByte::parse(self.ask(Query::RollPaper).await?).map_err(bad)?;
        Ok(Status {
            printer,
            offline,
            error,
            paper,
        })
    }

    async fn ask(&mut self, n: Query) -> Result<u8, StatusError> {
        let q = query(n);
        let lost = |e: String| StatusError::Link(DeviceError::Disconnected(e));
        match self {
            PrinterLink::Tcp(s) => timed_ask(s, &q).await,
            PrinterLink::Serial(s) => timed_ask(s, &q).await,
            PrinterLink::Usblp(s) => timed_ask(s, &q).await,
            PrinterLink::UsbPrinter(u) => {
                u.write(q.to_vec(), STATUS_TIMEOUT).await.map_err(lost)?;
                u.read_byte(STATUS_TIMEOUT).await
            }
            PrinterLink::Simulated(_) => Err(StatusError::NotReadable("simulated".into())),
        }
    }

    /// Drops answers that came too late for an earlier query, so they
    /// are not read as the answer to the next one.
    async fn drain(&mut self) -> Result<(), StatusError> {
        let mut buf = [0u8; 64];
        for _ in 0..64 {
            let read = match self {
                PrinterLink::Tcp(s) => now_or_never(s, &mut buf).await,
                PrinterLink::Serial(s) => now_or_never(s, &mut buf).await,
                PrinterLink::Usblp(s) => now_or_never(s, &mut buf).await,
                PrinterLink::UsbPrinter(_) | PrinterLink::Simulated(_) => return Ok(()),
            };
            match read {
                None => return Ok(()),
                Some(Ok(0)) => {
                    return Err(StatusError::Link(DeviceError::Disconnected(
                        "the printer closed the connection".into(),
                    )))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(StatusError::Link(DeviceError::from_io("reading", &e))),
            }
        }
        Ok(())
    }
}

async fn timed_write<S: AsyncWrite + Unpin>(s: &mut S, chunk: &[u8]) -> Result<(), String> {
    match tokio::time::timeout(WRITE_STALL, async {
        s.write_all(chunk).await?;
        s.flush().await
    })
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the connection was lost: {e}")),
        Err(_) => Err(format!(
            "the printer took nothing for {} s",
            WRITE_STALL.as_secs()
        )),
    }
}

async fn timed_ask<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    q: &[u8],
) -> Result<u8, StatusError> {
    let lost = |e: std::io::Error| StatusError::Link(DeviceError::from_io("status query", &e));
    match tokio::time::timeout(STATUS_TIMEOUT, s.write_all(q)).await {
        Ok(r) => r.map_err(lost)?,
        Err(_) => return Err(StatusError::NotReadable("the query was not taken".into())),
    }
    let mut byte = [0u8; 1];
    match tokio::time::timeout(STATUS_TIMEOUT, s.read(&mut byte)).await {
        Ok(Ok(0)) => Err(StatusError::Link(DeviceError::Disconnected(
            "the printer closed the connection".into(),
        ))),
        Ok(Ok(_)) => Ok(byte[0]),
        Ok(Err(e)) => Err(lost(e)),
        Err(_) => Err(StatusError::NotReadable(format!(
            "no answer to DLE EOT within {} ms",
            STATUS_TIMEOUT.as_millis()
        ))),
    }
}

/// A read that only takes what is already there (tokio's timeout polls the
/// read once before it looks at the clock).
async fn now_or_never<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut [u8],
) -> Option<std::io::Result<usize>> {
    tokio::time::timeout(Duration::ZERO, s.read(buf)).await.ok()
}

/// A character device opened non-blocking and driven by the runtime's
/// poller: the kernel's `usblp` node (it implements `poll`), so a status
/// read can time out without a stuck thread.
pub struct FdStream {
    fd: AsyncFd<std::fs::File>,
}

impl FdStream {
    pub fn open(path: &Path) -> Result<FdStream, DeviceError> {
        use std::os::unix::fs::OpenOptionsExt;
        let what = format!("opening {}", path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| DeviceError::from_io(&what, &e))?;
        // SAFETY: the fd is the open `File`'s own, and the `File` lives in
        // the AsyncFd (nothing else can close or swap it) until it drops.
        let fd = unsafe { AsyncFd::register(file) }
            .map_err(|e| DeviceError::from_io(&what, &std::io::Error::from(e)))?;
        Ok(FdStream { fd })
    }
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|f| {
                // SAFETY: read(2) into a buffer we own, at most its length.
                let n = unsafe {
                    libc::read(
                        f.get_ref().as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|f| {
                // SAFETY: write(2) from a slice we borrow, at most its length.
                let n = unsafe {
                    libc::write(f.get_ref().as_raw_fd(), data.as_ptr().cast(), data.len())
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A printer that answers every `DLE EOT n` with `answers[n - 1]`.
    async fn answering_printer(answers: [u8; 4]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
                while let Some(at) = got.windows(2).position(|w| w == [0x10, 0x04]) {
                    let Some(&q) = got.get(at + 2) else { break };
                    got.drain(at..at + 3);
                    s.write_all(&[answers[usize::from(q) - 1]]).await.unwrap();
                }
            }
        });
        (address, task)
    }

    #[tokio::test]
    async fn a_tcp_printer_takes_every_byte_in_chunks_and_answers_its_status() {
        let (address, printer) = answering_printer([0x12, 0x12, 0x12, 0x7E]).await;
        let mut link = open(&PrinterTransport::Tcp { address }).await.unwrap();
        let status = link.status().await.unwrap();
        assert!(status.paper.end);
        let job: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut seen = Vec::new();
        link.send(&job, |n| seen.push(n)).await.unwrap();
        assert_eq!(seen, vec![512, 1024, 1536, 2048, 2560, 3000]);
        drop(link);
        assert_eq!(printer.await.unwrap(), job);
    }

    #[tokio::test]
    async fn a_printer_that_never_answers_is_not_readable_rather_than_in_trouble() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let _silent = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            while s.read(&mut buf).await.unwrap_or(0) > 0 {}
        });
        let mut link = open(&PrinterTransport::Tcp { address }).await.unwrap();
        assert!(matches!(
            link.status().await,
            Err(StatusError::NotReadable(_))
        ));
    }

    #[tokio::test]
    async fn a_simulated_printer_appends_each_job_to_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("printer.bin");
        let mut link = open(&PrinterTransport::Simulated { path: path.clone() })
            .await
            .unwrap();
        link.send(b"one", |_| {}).await.unwrap();
        link.send(b"two", |_| {}).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"onetwo");
        assert!(matches!(
            link.status().await,
            Err(StatusError::NotReadable(_))
        ));
    }
}
