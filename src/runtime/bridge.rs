//! Turns the TUI's `RuntimeCommand`s into runtime calls on a task of its own, and their results
//! into `Event`s. The TUI hands commands over an unbounded channel so its loop never waits on
//! the runtime (bounded channels in both directions could otherwise deadlock).

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RuntimeHandle;
use super::messages::{CallId, RuntimeCommand, RuntimeEvent, ServerName, SignInStatus};
use super::server::CallOptions;

/// Runs until the command channel closes (the dashboard is gone).
pub async fn run(handle: RuntimeHandle, mut commands: mpsc::UnboundedReceiver<RuntimeCommand>) {
    let mut in_flight: HashMap<CallId, CancellationToken> = HashMap::new();
    let (done_tx, mut done) = mpsc::unbounded_channel::<CallId>();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(RuntimeCommand::CallTool { id, server, tool, arguments }) => {
                    let cancel = CancellationToken::new();
                    in_flight.insert(id, cancel.clone());
                    tokio::spawn(call(handle.clone(), id, server, tool, arguments, cancel, done_tx.clone()));
                }
                Some(RuntimeCommand::CancelCall { id }) => {
                    if let Some(cancel) = in_flight.remove(&id) {
                        cancel.cancel();
                    }
                }
                Some(RuntimeCommand::Reconnect { server }) => {
                    let _ = handle.reconnect(server.as_str()).await;
                }
                Some(RuntimeCommand::Restart { server }) => {
                    let _ = handle.restart(server.as_str()).await;
                }
                Some(RuntimeCommand::SetEnabled { server, enabled }) => {
                    let _ = handle.set_enabled(server.as_str(), enabled).await;
                }
                Some(RuntimeCommand::SignIn { server }) => {
                    tokio::spawn(sign_in(handle.clone(), server));
                }
                Some(RuntimeCommand::AnswerElicitation { id, answer }) => {
                    // A request the server already withdrew has nobody to answer.
                    let _ = handle.answer_elicitation(id, answer);
                }
                Some(RuntimeCommand::ChangeRoot { path, add }) => {
                    let text = change_root(&handle, &path, add).await;
                    let _ = handle.event_sender().send(RuntimeEvent::RootsReported { text }).await;
                }
                Some(RuntimeCommand::OpenUrl { server, url }) => {
                    tokio::spawn(open_url(handle.event_sender(), server, url));
                }
                Some(RuntimeCommand::ShowRoots) => {
                    let text = show_roots(&handle);
                    let _ = handle.event_sender().send(RuntimeEvent::RootsReported { text }).await;
                }
                None => return,
            },
            Some(id) = done.recv() => {
                in_flight.remove(&id);
            }
        }
    }
}

/// How long a dashboard sign-in waits for the browser.
const SIGN_IN_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// A sign-in started from the dashboard: the URL is shown (and the browser opened), then the
/// server reconnects with its new token.
async fn sign_in(handle: RuntimeHandle, server: ServerName) {
    let events = handle.event_sender();
    let report = |status: SignInStatus| {
        let _ = events.try_send(RuntimeEvent::SignIn {
            server: server.clone(),
            status,
        });
    };
    let Some(auth) = handle.server_auth(server.as_str()) else {
        report(SignInStatus::Failed(format!(
            "{server} has no OAuth sign-in (only HTTP servers without a token of their own)"
        )));
        return;
    };
    let announce_events = events.clone();
    let announce_server = server.clone();
    let step = crate::auth::browser::BrowserStep::Loopback {
        announce: std::sync::Arc::new(move |_, url| {
            let _ = announce_events.try_send(RuntimeEvent::SignIn {
                server: announce_server.clone(),
                status: SignInStatus::Open {
                    url: url.to_owned(),
                },
            });
        }),
        open_browser: true,
        wait: SIGN_IN_WAIT,
    };
    match auth.sign_in(&step).await {
        Ok(()) => {
            report(SignInStatus::Done);
            let _ = handle.reconnect(server.as_str()).await;
        }
        Err(failure) => report(SignInStatus::Failed(failure.to_string())),
    }
}

/// `/roots`: every server's roots, marking those that do not exist.
fn show_roots(handle: &RuntimeHandle) -> String {
    let mut lines = vec!["Roots (the directories each server is told about):".to_owned()];
    for (server, roots) in handle.roots() {
        if roots.is_empty() {
            lines.push(format!("  {server}: none"));
        }
        for root in roots {
            let uri = super::roots::file_uri(&root).unwrap_or_else(|| root.display().to_string());
            let missing = if root.exists() {
                ""
            } else {
                " (does not exist: not sent)"
            };
            lines.push(format!("  {server}: {uri}{missing}"));
        }
    }
    lines.push(
        "/roots:add <path> and /roots:remove <path> change them for every server.".to_owned(),
    );
    lines.join("\n")
}

/// Opens a URL a server asked the user to visit; a failure is said in the dashboard.
async fn open_url(
    events: tokio::sync::mpsc::Sender<RuntimeEvent>,
    server: ServerName,
    url: String,
) {
    use super::elicitation::url::{check_url, open_in_browser};
    let opened = tokio::task::spawn_blocking(move || {
        check_url(server.as_str(), &url)
            .and_then(|url| open_in_browser(&url))
            .map_err(|why| (server, why))
    })
    .await;
    if let Ok(Err((server, why))) = opened {
        let _ = events
            .send(RuntimeEvent::ElicitationNotice {
                server,
                text: format!("Could not open the page: {why}"),
            })
            .await;
    }
}

/// `/roots:add` and `/roots:remove`.
async fn change_root(handle: &RuntimeHandle, typed: &str, add: bool) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = match super::roots::resolve(typed, &cwd) {
        Ok(path) => path,
        Err(why) => return format!("Not changed: {why}."),
    };
    let path = path.as_path();
    if add && !path.is_dir() {
        return format!(
            "Not added: {} is not an existing directory.",
            path.display()
        );
    }
    let changed = handle.change_root(path, add).await;
    let verb = if add { "Added" } else { "Removed" };
    if changed.is_empty() {
        return if add {
            format!("{} is a root of every server already.", path.display())
        } else {
            format!("{} is not a root of any server.", path.display())
        };
    }
    let names: Vec<String> = changed.iter().map(ServerName::to_string).collect();
    format!(
        "{verb} root {} for {}; connected servers were told (roots/list_changed).",
        path.display(),
        names.join(", ")
    )
}

/// One tool call: progress is forwarded only when it goes up (rmcp delivers notifications out
/// of order), and nothing is reported after the result.
async fn call(
    handle: RuntimeHandle,
    id: CallId,
    server: ServerName,
    tool: String,
    arguments: rmcp::model::JsonObject,
    cancel: CancellationToken,
    done: mpsc::UnboundedSender<CallId>,
) {
    let events = handle.event_sender();
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let options = CallOptions {
        cancel: Some(cancel),
        progress: Some(progress_tx),
    };
    let started = std::time::Instant::now();
    let call = handle.call_tool_with(server.as_str(), &tool, arguments, options);
    tokio::pin!(call);
    let mut highest = f64::NEG_INFINITY;
    let outcome = loop {
        tokio::select! {
            outcome = &mut call => break outcome,
            Some(update) = progress.recv() => {
                forward_progress(&events, id, &mut highest, update).await;
            }
        }
    };
    // Progress handed over before the result may still be queued here (the select above can
    // pick the result first): it goes out before the result, never after.
    while let Ok(update) = progress.try_recv() {
        forward_progress(&events, id, &mut highest, update).await;
    }
    let _ = done.send(id);
    let _ = events
        .send(RuntimeEvent::CallFinished {
            id,
            outcome: outcome.map_err(|e| e.to_string()),
            elapsed: started.elapsed(),
        })
        .await;
}

async fn forward_progress(
    events: &mpsc::Sender<RuntimeEvent>,
    id: CallId,
    highest: &mut f64,
    update: rmcp::model::ProgressNotificationParam,
) {
    if update.progress > *highest {
        *highest = update.progress;
        let _ = events
            .send(RuntimeEvent::CallProgress {
                id,
                progress: update.progress,
                total: update.total,
                message: update.message.map(|m| crate::text::sanitize_line(&m)),
            })
            .await;
    }
}
