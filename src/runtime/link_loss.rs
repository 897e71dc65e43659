//! How an HTTP transport tells the server's actor that the session is over although no
//! process exited and rmcp's service still runs: the server forgot our session (it restarted),
//! it no longer accepts our credentials, or the legacy SSE stream died. rmcp would only fail
//! requests one by one (or, for a lost session, re-initialize behind our back, losing the
//! subscriptions and log level the actor set up). Instead the transport reports the loss here,
//! which ends the rmcp service; the actor then sees the service end and takes the reported
//! state and reason — Reconnecting with the server's own words, or NeedsAuth — and requests
//! that fail because the session ended say why it ended. It also tells the handshake when the
//! streamable HTTP `GET` stream is up, so a server is Ready only once it can reach us.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use tokio_util::sync::CancellationToken;

use super::challenge::AuthChallenge;
use super::messages::ServerState;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Loss {
    /// The server answered 401.
    Unauthorized(AuthChallenge),
    /// The server answered 401 and signing in did not get a token it accepts; says why.
    NeedsAuth(String),
    /// Anything else, in words (the server forgot the session, the stream died…).
    Gone(String),
}

impl Loss {
    /// The state it leaves the server in.
    pub(crate) fn state(&self) -> ServerState {
        match self {
            Loss::Unauthorized(_) | Loss::NeedsAuth(_) => ServerState::NeedsAuth,
            Loss::Gone(_) => ServerState::Failed,
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::Unauthorized(challenge) => {
                write!(
                    f,
                    "the server requires authorization (HTTP 401): {challenge}"
                )
            }
            Loss::NeedsAuth(reason) | Loss::Gone(reason) => f.write_str(reason),
        }
    }
}

type Source = Box<dyn Fn() -> Option<Loss> + Send>;

/// Shared by the transport (which reports) and the connection (which reads the report).
#[derive(Clone, Default)]
pub(crate) struct LinkLoss(Arc<Mutex<State>>, Arc<GetStream>);

/// Whether the streamable HTTP `GET` stream has been tried (opened, or refused): until then,
/// what the server sends outside a request's answer has nowhere to go.
#[derive(Default)]
struct GetStream {
    settled: AtomicBool,
    notify: Notify,
}

#[derive(Default)]
struct State {
    /// The first report wins: later failures are consequences of it.
    loss: Option<Loss>,
    /// The session's rmcp service, once the handshake is done.
    service: Option<CancellationToken>,
    /// A transport that keeps its own record of why it stopped (the SSE worker), read when
    /// asked, so the answer is there as soon as the service has ended.
    source: Option<Source>,
}

impl fmt::Debug for LinkLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LinkLoss").field(&self.get()).finish()
    }
}

impl LinkLoss {
    /// The session is over: end the service (once armed) and keep why.
    pub(crate) fn report(&self, loss: Loss) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if state.loss.is_some() {
            return;
        }
        tracing::info!("{loss}");
        state.loss = Some(loss);
        if let Some(service) = &state.service {
            service.cancel();
        }
    }

    /// From now on a report ends `service`. Before the handshake is done a report only
    /// records why (cancelling then would hide the handshake's own, clearer error).
    pub(crate) fn arm(&self, service: CancellationToken) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if state.loss.is_some() {
            service.cancel();
        }
        state.service = Some(service);
    }

    /// Where to look for why the transport stopped, besides reports.
    pub(crate) fn set_source(&self, source: impl Fn() -> Option<Loss> + Send + 'static) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).source = Some(Box::new(source));
    }

    /// The transport has opened its `GET` stream, or learnt it will not get one.
    pub(crate) fn get_stream_settled(&self) {
        self.1.settled.store(true, Ordering::Release);
        self.1.notify.notify_waiters();
    }

    /// Waits (at most `limit`) until the `GET` stream is settled; false on timeout.
    pub(crate) async fn wait_get_stream(&self, limit: std::time::Duration) -> bool {
        let notified = self.1.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.1.settled.load(Ordering::Acquire) {
            return true;
        }
        tokio::time::timeout(limit, notified).await.is_ok()
    }

    /// Why the session ended, if it did and the transport knows.
    pub(crate) fn get(&self) -> Option<Loss> {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .loss
            .clone()
            .or_else(|| state.source.as_ref().and_then(|source| source()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_report_wins_and_ends_the_service_once_armed() {
        let loss = LinkLoss::default();
        let service = CancellationToken::new();
        loss.report(Loss::Unauthorized(AuthChallenge::parse("Bearer realm=x")));
        assert!(!service.is_cancelled());
        loss.arm(service.clone());
        assert!(
            service.is_cancelled(),
            "an early report takes effect when armed"
        );
        loss.report(Loss::Gone("later".into()));
        let first = loss.get().expect("reported");
        assert_eq!(first.state(), ServerState::NeedsAuth);
        assert_eq!(
            first.to_string(),
            "the server requires authorization (HTTP 401): Bearer (realm \"x\")"
        );

        let armed = LinkLoss::default();
        let service = CancellationToken::new();
        armed.arm(service.clone());
        assert!(armed.get().is_none() && !service.is_cancelled());
        armed.report(Loss::Gone("gone".into()));
        assert!(service.is_cancelled());
        assert_eq!(armed.get().map(|l| l.state()), Some(ServerState::Failed));
    }

    #[test]
    fn a_source_answers_when_nothing_was_reported() {
        let loss = LinkLoss::default();
        let (tx, rx) = tokio::sync::watch::channel(None::<String>);
        loss.set_source(move || rx.borrow().clone().map(Loss::Gone));
        assert!(loss.get().is_none());
        tx.send_replace(Some("SSE stream ended".into()));
        assert_eq!(loss.get(), Some(Loss::Gone("SSE stream ended".into())));
    }
}
