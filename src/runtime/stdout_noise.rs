//! A stdio server's stdout is its JSON-RPC channel, but servers (or the wrappers that start
//! them) print banners, logs and prompts there — "Starting server..." — and rmcp skips such
//! lines silently. A server that only ever prints those then fails with "no answer to
//! initialize", which hides the cause. [`NoiseWatch`] sits between the pipe and rmcp, passes
//! every byte on unchanged, and keeps the first line that cannot be a JSON-RPC message (one
//! that does not start with `{` or `[`), so a failed start can quote it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::text::{sanitize_line, truncate_chars};

/// Characters of the line kept.
const KEPT_CHARS: usize = 200;

/// The first non-JSON line, shared between the reader and whoever reports the failure.
#[derive(Clone, Debug, Default)]
pub struct FirstNoise(Arc<Mutex<Option<String>>>);

impl FirstNoise {
    /// The line (or as much of it as has arrived), sanitized.
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, bytes: &[u8]) {
        let text = truncate_chars(
            &sanitize_line(String::from_utf8_lossy(bytes).trim()),
            KEPT_CHARS,
        );
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
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

/// Wraps a child's stdout; see the module docs.
pub struct NoiseWatch<R> {
    inner: R,
    line: Line,
    kept: Vec<u8>,
    noise: FirstNoise,
}

impl<R> NoiseWatch<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            line: Line::Start,
            kept: Vec::new(),
            noise: FirstNoise::default(),
        }
    }

    /// Where the first noise line will be.
    pub fn noise(&self) -> FirstNoise {
        self.noise.clone()
    }

    fn inspect(&mut self, mut bytes: &[u8]) {
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
                    self.noise.set(&self.kept);
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

impl<R: AsyncRead + Unpin> AsyncRead for NoiseWatch<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled
            && this.line != Line::Done
        {
            this.inspect(&buf.filled()[before..]);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn first_noise(chunks: &[&[u8]]) -> (Option<String>, Vec<u8>) {
        let (mut writer, reader) = tokio::io::duplex(64);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writing = tokio::spawn(async move {
            for chunk in chunks {
                tokio::io::AsyncWriteExt::write_all(&mut writer, &chunk)
                    .await
                    .expect("write");
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
}
