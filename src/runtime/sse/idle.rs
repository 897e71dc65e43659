//! The read timeout of a long-lived event stream (`sse_read_timeout`). A connection that died
//! without a FIN or RST — a NAT or proxy forgot it, a laptop slept, a server hung — looks to
//! the reader exactly like a quiet server: the body just never yields again. Servers send
//! keep-alive comments to tell the two apart, so the clock restarts on every chunk of bytes
//! (comments included), and a stream silent for longer than the timeout ends with an error.

use std::time::Duration;

use futures::{Stream, StreamExt};

/// `stream`, ended with the error `on_silence()` when no item arrives for `after`. A zero
/// `after` means no timeout.
pub(crate) fn idle_timeout<S, T, E, F>(
    stream: S,
    after: Duration,
    on_silence: F,
) -> impl Stream<Item = Result<T, E>> + Send + 'static
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: Fn() -> E + Clone + Send + 'static,
{
    futures::stream::unfold(Some(Box::pin(stream)), move |state| {
        let on_silence = on_silence.clone();
        async move {
            let mut stream = state?;
            if after.is_zero() {
                return stream.next().await.map(|item| (item, Some(stream)));
            }
            match tokio::time::timeout(after, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                // Ends the stream: the connection is presumed dead.
                Err(_) => Some((Err(on_silence()), None)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_item_restarts_the_clock_and_silence_ends_the_stream() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<u32, &str>>();
        let stream = tokio_util_stream(rx);
        let mut timed = Box::pin(idle_timeout(stream, Duration::from_secs(10), || "silent"));
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            for i in 0..3 {
                tokio::time::sleep(Duration::from_secs(9)).await;
                let _ = tx.send(Ok(i));
            }
            // Keep the sender (the connection) open, but say nothing more.
            std::future::pending::<()>().await;
        });
        for i in 0..3 {
            assert_eq!(timed.next().await, Some(Ok(i)));
        }
        assert_eq!(timed.next().await, Some(Err("silent")));
        assert_eq!(started.elapsed(), Duration::from_secs(37));
        assert_eq!(timed.next().await, None, "nothing after the timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_no_timeout() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<u32, &str>>();
        let mut timed = Box::pin(idle_timeout(tokio_util_stream(rx), Duration::ZERO, || "x"));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(100_000)).await;
            let _ = tx.send(Ok(7));
        });
        assert_eq!(timed.next().await, Some(Ok(7)));
        assert_eq!(timed.next().await, None);
    }

    fn tokio_util_stream<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
    ) -> impl Stream<Item = T> + Send + 'static {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
