//! Running the demo server over stdin/stdout, and noticing when stdin closes.
//!
//! rmcp ends its serve loop when the input stream ends, but then waits up to
//! five seconds for in-flight handlers before returning, and it does not stop
//! them first. A client that quits during a long `sleep` would therefore leave
//! the process lingering. The reader wrapper here fires a [`Shutdown`] signal
//! the moment input ends, which the waiting tools watch, so the server exits
//! promptly.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use anyhow::Context as _;
use rmcp::ServiceExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::watch,
};

use super::DemoServer;

/// Serve the demo server over stdin/stdout until the client disconnects.
///
/// Returns once stdin reaches end of file (or fails) and in-flight work has
/// stopped; returns an error when the client goes away before completing the
/// MCP handshake. Stdout carries only protocol messages: logs go through
/// `tracing`, whose subscriber must not write to stdout.
pub async fn run_stdio() -> anyhow::Result<()> {
    // The pipe-based variant keeps reads on the reactor, so nothing is left
    // blocked on stdin when the runtime shuts down after we return.
    let (stdin, stdout) = rmcp::transport::io::stdio_pipes();
    serve_until_closed(DemoServer::new(), stdin, stdout).await
}

/// Serve `server` over `reader`/`writer` until the reader reaches end of file.
pub(super) async fn serve_until_closed<R, W>(
    server: DemoServer,
    reader: R,
    writer: W,
) -> anyhow::Result<()>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let reader = EofSignalReader {
        inner: reader,
        shutdown: server.shutdown.clone(),
    };
    let running = server
        .serve((reader, writer))
        .await
        .context("demo server: the MCP handshake failed")?;
    let reason = running
        .waiting()
        .await
        .context("demo server: the serve task failed")?;
    tracing::info!(?reason, "demo server stopped");
    Ok(())
}

/// A one-way "input has closed" flag that any number of tasks can await.
#[derive(Debug, Clone)]
pub(super) struct Shutdown(Arc<watch::Sender<bool>>);

impl Shutdown {
    pub(super) fn new() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }

    /// Raise the flag; idempotent.
    fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Resolve once the flag is raised (immediately if it already is).
    pub(super) async fn wait(&self) {
        let mut receiver = self.0.subscribe();
        // `self` keeps the sender alive, so this cannot fail with "closed"; if
        // it somehow did, returning would only end a wait early.
        let _ = receiver.wait_for(|closed| *closed).await;
    }
}

/// Passes reads through and raises [`Shutdown`] at end of file or on a read
/// error: either way rmcp's transport treats the stream as closed.
struct EofSignalReader<R> {
    inner: R,
    shutdown: Shutdown,
}

impl<R: AsyncRead + Unpin> AsyncRead for EofSignalReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled_before = buf.filled().len();
        // A read into a full buffer also returns no bytes; that is not EOF.
        let had_room = buf.remaining() > 0;
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &poll {
            Poll::Ready(Ok(())) if had_room && buf.filled().len() == filled_before => {
                tracing::debug!("stdin closed");
                self.shutdown.trigger();
            }
            Poll::Ready(Err(error)) => {
                tracing::debug!(%error, "reading stdin failed");
                self.shutdown.trigger();
            }
            _ => {}
        }
        poll
    }
}
