//! `resources/subscribe` and `logging/setLevel`: asked for by a command, or renewed after a
//! reconnect. Each runs as a future the actor's loop polls beside everything else (like
//! pings), never awaited inside the loop: a server that never answers delays only the caller
//! who asked, not exit detection, heartbeats or other commands.

use tokio::sync::oneshot;

use super::{Link, ServerActor};
use crate::runtime::messages::ServerState;
use crate::runtime::request::RequestError;
use crate::runtime::server::CallError;

/// What an errand asks the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ErrandKind {
    Subscribe(String),
    SetLevel(String),
}

type Reply = oneshot::Sender<Result<(), CallError>>;

/// A finished errand: on which connection it ran, what it asked, the answer, and who waits
/// for it (nobody, for a renewal).
pub(super) struct ErrandDone {
    connection: u64,
    kind: ErrandKind,
    result: Result<(), RequestError>,
    reply: Option<Reply>,
}

impl ServerActor {
    /// Sends the request beside the loop; the answer comes back through
    /// [`ServerActor::on_errand`]. Without a live connection the caller is told at once.
    pub(super) fn start_errand(&mut self, kind: ErrandKind, reply: Option<Reply>) {
        let requester = match self.requester() {
            Ok(requester) => requester,
            Err(error) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(error));
                }
                return;
            }
        };
        let connection = self.connection_number;
        self.errands.push(Box::pin(async move {
            let result = match &kind {
                ErrandKind::Subscribe(uri) => requester.subscribe(uri).await,
                ErrandKind::SetLevel(level) => requester.set_level(level).await,
            };
            ErrandDone {
                connection,
                kind,
                result,
                reply,
            }
        }));
    }

    pub(super) async fn on_errand(&mut self, done: ErrandDone) {
        let ErrandDone {
            connection,
            kind,
            result,
            reply,
        } = done;
        let current = connection == self.connection_number && matches!(self.link, Link::Up(_));
        match (&kind, &result) {
            (ErrandKind::Subscribe(uri), Ok(())) => {
                if !self.subscriptions.contains(uri) {
                    self.subscriptions.push(uri.clone());
                    self.snapshot.subscriptions = self.subscriptions.clone();
                    self.publish_soon();
                }
            }
            (ErrandKind::SetLevel(level), Ok(())) => self.log_level = Some(level.clone()),
            (ErrandKind::Subscribe(_) | ErrandKind::SetLevel(_), Err(error)) => {
                if reply.is_none() && current {
                    // A renewal failed: the server works, but without what the operator
                    // asked for on the previous connection.
                    if matches!(
                        self.snapshot.state,
                        ServerState::Ready | ServerState::Degraded
                    ) {
                        self.set_state(ServerState::Degraded, Some(error.to_string()))
                            .await;
                    }
                }
            }
        }
        // Granted on a connection that has since been replaced: the new one needs it too.
        if result.is_ok() && !current && matches!(self.link, Link::Up(_)) && reply.is_some() {
            self.start_errand(kind, None);
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.map_err(|error| self.request_error(error)));
        }
    }
}
