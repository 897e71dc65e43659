//! How an HTTP transport tells the server's actor that the session is over although no
//! process exited and rmcp's service still runs: the server forgot our session (it restarted),
//! it no longer accepts our credentials, or the legacy SSE stream died. rmcp would only fail
//! requests one by one (or, for a lost session, re-initialize behind our back, losing the
//! subscriptions and log level the actor set up). Instead the transport reports the loss here,
//! which ends the rmcp service; the actor then sees the service end and takes the reported
//! state and reason — Reconnecting with the server's own words, or NeedsAuth.

use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use super::connect::ConnectFailure;
use super::messages::ServerState;

/// Shared by the transport (which reports) and the connection (which reads the report).
#[derive(Clone, Default)]
pub(crate) struct LinkLoss(Arc<Mutex<Loss>>);

#[derive(Default)]
struct Loss {
    /// The first report wins: later failures are consequences of it.
    failure: Option<ConnectFailure>,
    /// The session's rmcp service, once the handshake is done.
    service: Option<CancellationToken>,
    /// A transport that keeps its own record of why it stopped (the SSE worker), read when
    /// asked, so the answer is there as soon as the service has ended.
    source: Option<Box<dyn Fn() -> Option<ConnectFailure> + Send>>,
}

impl LinkLoss {
    /// The session is over: end the service (once armed) and keep why.
    pub(crate) fn report(&self, state: ServerState, reason: String) {
        let mut loss = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if loss.failure.is_some() {
            return;
        }
        tracing::info!(%state, "{reason}");
        loss.failure = Some(ConnectFailure { state, reason });
        if let Some(service) = &loss.service {
            service.cancel();
        }
    }

    /// From now on a report ends `service`. Before the handshake is done a report only
    /// records why (cancelling then would hide the handshake's own, clearer error).
    pub(crate) fn arm(&self, service: CancellationToken) {
        let mut loss = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if loss.failure.is_some() {
            service.cancel();
        }
        loss.service = Some(service);
    }

    /// Where to look for why the transport stopped, besides reports.
    pub(crate) fn set_source(&self, source: impl Fn() -> Option<ConnectFailure> + Send + 'static) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).source = Some(Box::new(source));
    }

    /// What was reported, if anything.
    pub(crate) fn get(&self) -> Option<ConnectFailure> {
        let loss = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        loss.failure
            .clone()
            .or_else(|| loss.source.as_ref().and_then(|source| source()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_report_wins_and_ends_the_service_once_armed() {
        let loss = LinkLoss::default();
        let service = CancellationToken::new();
        loss.report(ServerState::NeedsAuth, "401".into());
        assert!(!service.is_cancelled());
        loss.arm(service.clone());
        assert!(service.is_cancelled(), "an early report takes effect when armed");
        loss.report(ServerState::Failed, "later".into());
        let failure = loss.get().expect("reported");
        assert_eq!(failure.state, ServerState::NeedsAuth);
        assert_eq!(failure.reason, "401");

        let armed = LinkLoss::default();
        let service = CancellationToken::new();
        armed.arm(service.clone());
        assert!(armed.get().is_none() && !service.is_cancelled());
        armed.report(ServerState::Failed, "gone".into());
        assert!(service.is_cancelled());
    }

    #[test]
    fn a_source_answers_when_nothing_was_reported() {
        let loss = LinkLoss::default();
        let (tx, rx) = tokio::sync::watch::channel(None::<String>);
        loss.set_source(move || {
            rx.borrow().clone().map(|reason| ConnectFailure {
                state: ServerState::Failed,
                reason,
            })
        });
        assert!(loss.get().is_none());
        tx.send_replace(Some("SSE stream ended".into()));
        assert_eq!(loss.get().map(|f| f.reason).as_deref(), Some("SSE stream ended"));
    }
}
