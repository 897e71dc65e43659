//! Turns the TUI's `Command`s into runtime calls on a task of its own, and their results
//! into `Event`s. The TUI hands commands over an unbounded channel so its loop never waits on
//! the runtime (bounded channels in both directions could otherwise deadlock).

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RuntimeHandle;
use super::messages::{CallId, Command, Event};

/// Runs until `Command::Shutdown` (after which it reports `Event::ShutdownComplete`) or until
/// the command channel closes.
pub async fn run(handle: RuntimeHandle, mut commands: mpsc::UnboundedReceiver<Command>) {
    let events = handle.event_sender();
    let mut in_flight: HashMap<CallId, CancellationToken> = HashMap::new();
    let (done_tx, mut done) = mpsc::unbounded_channel::<CallId>();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::CallTool { id, server, tool, arguments }) => {
                    let cancel = CancellationToken::new();
                    in_flight.insert(id, cancel.clone());
                    let handle = handle.clone();
                    let events = events.clone();
                    let done_tx = done_tx.clone();
                    tokio::spawn(async move {
                        let outcome = handle
                            .call_tool(server.as_str(), &tool, arguments, Some(cancel))
                            .await
                            .map_err(|e| e.to_string());
                        let _ = done_tx.send(id);
                        let _ = events.send(Event::CallFinished { id, outcome }).await;
                    });
                }
                Some(Command::CancelCall { id }) => {
                    if let Some(cancel) = in_flight.remove(&id) {
                        cancel.cancel();
                    }
                }
                Some(Command::Shutdown) => {
                    handle.shutdown().await;
                    let _ = events.send(Event::ShutdownComplete).await;
                    return;
                }
                None => return,
            },
            Some(id) = done.recv() => {
                in_flight.remove(&id);
            }
        }
    }
}
