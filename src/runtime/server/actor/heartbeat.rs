//! The heartbeat: a ping every `ping_interval` while the server is up, run beside the loop.
//! A failed ping marks the server Degraded and is retried one timeout later;
//! [`DEAD_AFTER_FAILED_PINGS`](crate::runtime::server::health::DEAD_AFTER_FAILED_PINGS) in a
//! row drop the connection. A server that stays up [`STABLE_AFTER`] earns a fresh backoff.

use std::time::Duration;

use tokio::time::Instant;

use super::{Link, STABLE_AFTER, ServerActor};
use crate::runtime::messages::ServerState;
use crate::runtime::request::RequestError;

impl ServerActor {
    pub(super) fn schedule_ping(&mut self) {
        self.ping_due = self
            .config
            .health
            .ping_interval
            .map(|interval| Instant::now() + interval);
    }

    pub(super) fn start_ping(&mut self) {
        self.ping_due = None;
        let Link::Up(connection) = &self.link else {
            return;
        };
        if self.ping_running.is_some() {
            return;
        }
        let requester = connection.requester.clone();
        let limit = self.config.health.ping_timeout;
        self.ping_running = Some(Box::pin(async move { requester.ping(limit).await }));
    }

    pub(super) async fn on_ping(&mut self, result: Result<Duration, RequestError>) {
        match result {
            Ok(rtt) => {
                self.pings.record_ok(rtt);
                if self
                    .ready_at
                    .is_some_and(|since| since.elapsed() > STABLE_AFTER)
                {
                    self.restarts.stable();
                }
                if self.snapshot.state == ServerState::Degraded {
                    self.snapshot.last_error = None;
                    self.set_state(ServerState::Ready, None).await;
                } else {
                    self.publish_soon();
                }
            }
            Err(error) => {
                self.pings.record_failure(error.to_string());
                if self.pings.is_dead() {
                    let reason = format!(
                        "{} heartbeat pings failed in a row (last: {error})",
                        self.pings.consecutive_failures
                    );
                    self.on_lost(reason).await;
                    return;
                }
                self.set_state(ServerState::Degraded, Some(error.to_string()))
                    .await;
                // Check again soon rather than a whole interval later.
                self.ping_due = Some(Instant::now() + self.config.health.ping_timeout);
                return;
            }
        }
        self.schedule_ping();
    }
}
