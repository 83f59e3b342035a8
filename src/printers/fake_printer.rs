//! For tests and `bench print-jobs`: a receipt printer on 127.0.0.1 that
//! answers `DLE EOT` as a real one does (paper out and in switchable) and
//! keeps every other byte it received, across reconnections.
//!
//! Must never: be configured as a real printer (it listens on loopback
//! only and prints nothing).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct FakePrinter {
    pub address: String,
    paper_out: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<u8>>>,
    /// Notified after every read that added bytes.
    pub changed: Arc<tokio::sync::Notify>,
}

impl FakePrinter {
    /// Listens on a free loopback port; fails only when the box cannot
    /// give one.
    pub async fn start(paper_out: bool) -> std::io::Result<FakePrinter> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let printer = FakePrinter {
            address: listener.local_addr()?.to_string(),
            paper_out: Arc::new(AtomicBool::new(paper_out)),
            received: Arc::default(),
            changed: Arc::default(),
        };
        let p = printer.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(p.clone().serve(conn));
            }
        });
        Ok(printer)
    }

    pub fn set_paper_out(&self, out: bool) {
        self.paper_out.store(out, Ordering::SeqCst);
    }

    /// Every byte received that was not a status query.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many bytes were received (status queries not counted).
    pub fn received_len(&self) -> usize {
        self.received.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// What an Epson answers to `DLE EOT n`, with the roll empty or not.
    fn answer(&self, n: u8) -> u8 {
        let out = self.paper_out.load(Ordering::SeqCst);
        match (n, out) {
            (1, true) => 0x1A, // offline
            (2, true) => 0x32, // stopped at the paper end
            (4, true) => 0x7E, // near end and end
            _ => 0x12,         // the fixed bits alone: all well
        }
    }

    async fn serve(self, mut conn: tokio::net::TcpStream) {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            // Status queries are answered at once; the rest is the paper.
            let mut keep = Vec::new();
            let mut i = 0;
            while i < pending.len() {
                if pending[i] == 0x10 && pending.get(i + 1) == Some(&0x04) {
                    match pending.get(i + 2) {
                        Some(&q) if (1..=4).contains(&q) => {
                            if conn.write_all(&[self.answer(q)]).await.is_err() {
                                return;
                            }
                            i += 3;
                            continue;
                        }
                        None => break,
                        Some(_) => {}
                    }
                }
                keep.push(pending[i]);
                i += 1;
            }
            pending.drain(..i);
            if !keep.is_empty() {
                if let Ok(mut r) = self.received.lock() {
                    r.extend_from_slice(&keep);
                }
                self.changed.notify_waiters();
            }
        }
    }
}
