//! A stdio server's stdout is its JSON-RPC channel, but servers (or the wrappers that start
//! them) print banners, logs and prompts there — "Starting server..." — and rmcp skips such
//! lines silently. A server that only ever prints those then fails with "no answer to
//! initialize", which hides the cause. [`NoiseWatch`] sits between the pipe and rmcp, passes
//! every byte on unchanged, and keeps the first line that cannot be a JSON-RPC message (one
//! that does not start with `{` or `[`), so a failed start can quote it.
//!
//! Once the handshake is done the question is answered and it stops looking (a 20 MB result
//! is not scanned). If the start fails before rmcp read everything — a process that printed
//! and died at once — the pipe is handed back when rmcp lets go of it, so the rest can be read.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::text::{sanitize_line, truncate_chars};

/// Characters of the line kept.
const KEPT_CHARS: usize = 200;
/// Bytes of a failed server's unread output looked at.
const DRAIN_BYTES: usize = 64 * 1024;

type Pipe = Box<dyn AsyncRead + Send + Unpin>;

/// The first non-JSON line, shared between the reader and whoever reports the failure.
#[derive(Clone, Default)]
pub struct FirstNoise(Arc<Shared>);

#[derive(Default)]
struct Shared {
    line: Mutex<Option<String>>,
    stopped: AtomicBool,
    /// The pipe and where its scan was, once rmcp dropped it unfinished.
    leftover: Mutex<Option<(Pipe, Scan)>>,
}

impl fmt::Debug for FirstNoise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FirstNoise").field(&self.get()).finish()
    }
}

impl FirstNoise {
    /// The line (or as much of it as has arrived), sanitized.
    pub fn get(&self) -> Option<String> {
        self.0
            .line
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Nobody will ask any more (the server answered): stop looking at its output.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::Relaxed);
    }

    /// The line, after reading what is left in the pipe (bounded in time and size) if rmcp
    /// gave it up before the end: for a server whose start failed.
    pub async fn drain(&self, within: Duration) -> Option<String> {
        let leftover = self
            .0
            .leftover
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((mut pipe, mut scan)) = leftover {
            let reading = async {
                let mut buffer = vec![0u8; 8192];
                let mut read = 0;
                while scan.line != Line::Done && read < DRAIN_BYTES {
                    match pipe.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            read += n;
                            scan.inspect(&buffer[..n], self);
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(within, reading).await;
        }
        self.get()
    }

    fn stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Relaxed)
    }

    fn set(&self, bytes: &[u8]) {
        let text = truncate_chars(
            &sanitize_line(String::from_utf8_lossy(bytes).trim()),
            KEPT_CHARS,
        );
        *self.0.line.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Nothing but whitespace yet.
    Start,
    /// Starts like JSON: skip to its end.
    Json,
    /// Not JSON: being kept.
    Noise,
    /// The first noise line is complete: nothing more to look at.
    Done,
}

/// Where the scan of the output is.
struct Scan {
    line: Line,
    kept: Vec<u8>,
}

impl Scan {
    fn inspect(&mut self, mut bytes: &[u8], noise: &FirstNoise) {
        while !bytes.is_empty() {
            match self.line {
                Line::Done => return,
                Line::Start => {
                    let first = bytes[0];
                    bytes = &bytes[1..];
                    self.line = match first {
                        b' ' | b'\t' | b'\r' | b'\n' => Line::Start,
                        b'{' | b'[' => Line::Json,
                        other => {
                            self.kept.push(other);
                            Line::Noise
                        }
                    };
                }
                Line::Json => match bytes.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        bytes = &bytes[end + 1..];
                        self.line = Line::Start;
                    }
                    None => return,
                },
                Line::Noise => {
                    let end = bytes.iter().position(|b| *b == b'\n');
                    let part = &bytes[..end.unwrap_or(bytes.len())];
                    let room = (KEPT_CHARS * 4).saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&part[..part.len().min(room)]);
                    // Shared at once: a server may print one line without a newline and hang.
                    noise.set(&self.kept);
                    if end.is_some() {
                        self.line = Line::Done;
                        self.kept = Vec::new();
                    }
                    return;
                }
            }
        }
    }
}

/// Wraps a child's stdout; see the module docs.
pub struct NoiseWatch<R: AsyncRead + Send + Unpin + 'static> {
    /// Always `Some` until dropped.
    inner: Option<R>,
    scan: Scan,
    noise: FirstNoise,
}

impl<R: AsyncRead + Send + Unpin + 'static> NoiseWatch<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner: Some(inner),
            scan: Scan {
                line: Line::Start,
                kept: Vec::new(),
            },
            noise: FirstNoise::default(),
        }
    }

    /// Where the first noise line will be.
    pub fn noise(&self) -> FirstNoise {
        self.noise.clone()
    }
}

impl<R: AsyncRead + Send + Unpin + 'static> AsyncRead for NoiseWatch<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        let polled = Pin::new(inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled
            && this.scan.line != Line::Done
        {
            if this.noise.stopped() {
                this.scan.line = Line::Done;
                this.scan.kept = Vec::new();
            } else {
                this.scan.inspect(&buf.filled()[before..], &this.noise);
            }
        }
        polled
    }
}

impl<R: AsyncRead + Send + Unpin + 'static> Drop for NoiseWatch<R> {
    /// Hands the pipe back if the question is still open (see [`FirstNoise::drain`]).
    fn drop(&mut self) {
        if self.scan.line == Line::Done || self.noise.stopped() {
            return;
        }
        if let Some(inner) = self.inner.take() {
            let scan = Scan {
                line: self.scan.line,
                kept: std::mem::take(&mut self.scan.kept),
            };
            *self
                .noise
                .0
                .leftover
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some((Box::new(inner), scan));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn first_noise(chunks: &[&[u8]]) -> (Option<String>, Vec<u8>) {
        let (mut writer, reader) = tokio::io::duplex(64);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writing = tokio::spawn(async move {
            for chunk in chunks {
                writer.write_all(&chunk).await.expect("write");
            }
        });
        let mut watch = NoiseWatch::new(reader);
        let noise = watch.noise();
        let mut passed = Vec::new();
        watch.read_to_end(&mut passed).await.expect("read");
        writing.await.expect("writer");
        (noise.get(), passed)
    }

    #[tokio::test]
    async fn json_lines_pass_and_the_first_other_line_is_kept() {
        let input: &[&[u8]] = &[
            b"{\"jsonrpc\": \"2.0\"}\n  [1]\n\n",
            b"Starting ",
            b"server...\r\nsecond noise\n{}\n",
        ];
        let (noise, passed) = first_noise(input).await;
        assert_eq!(noise.as_deref(), Some("Starting server..."));
        assert_eq!(passed, input.concat(), "every byte reaches rmcp unchanged");
    }

    #[tokio::test]
    async fn an_unfinished_line_counts_and_control_characters_go() {
        let (noise, _) = first_noise(&[b"{}\n\x1b[31mready\x1b[0m> "]).await;
        assert_eq!(noise.as_deref(), Some("ready>"));
        let (noise, _) = first_noise(&[b"{}\n[]\n"]).await;
        assert_eq!(noise, None);
        let long = vec![b'x'; 100_000];
        let (noise, _) = first_noise(&[&long]).await;
        assert_eq!(noise.map(|n| n.chars().count()), Some(KEPT_CHARS));
    }

    #[tokio::test]
    async fn stopped_watches_look_no_further() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut watch = NoiseWatch::new(reader);
        let noise = watch.noise();
        noise.stop();
        writer.write_all(b"late banner\n").await.expect("write");
        drop(writer);
        let mut passed = Vec::new();
        watch.read_to_end(&mut passed).await.expect("read");
        assert_eq!(passed, b"late banner\n");
        assert_eq!(noise.get(), None);
    }

    #[tokio::test]
    async fn what_rmcp_left_unread_is_read_after_a_failed_start() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut watch = NoiseWatch::new(reader);
        let noise = watch.noise();
        writer.write_all(b"{\"jsonrpc\": ").await.expect("write");
        let mut first = [0u8; 12];
        watch.read_exact(&mut first).await.expect("read");
        // rmcp gives up mid-line; the rest of that JSON line is not noise, the banner is.
        drop(watch);
        writer
            .write_all(b"\"2.0\"}\nListening on stdio\n")
            .await
            .expect("write");
        drop(writer);
        assert_eq!(
            noise.drain(Duration::from_secs(5)).await.as_deref(),
            Some("Listening on stdio")
        );
    }
}
