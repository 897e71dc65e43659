//! Establishing an MCP session: the `initialize` handshake (under the startup timeout), then
//! reading what the server is and listing what it offers (each request under its own
//! deadline). A stdio server that dies during the handshake is reported with its exit status
//! rather than as a generic transport error.

use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::catalog::ServerListing;
use super::client::{McpClient, ServerNotice};
use super::messages::ServerIdentity;
use super::request::{RequestError, Requester};
use super::stdio::SpawnedServer;
use crate::text::{human_duration, sanitize_line};

/// Largest single JSON-RPC message accepted from a stdio server (tool results can be big).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A live MCP session.
pub(super) struct Connection {
    pub(super) requester: Requester,
    /// Cancelling ends the rmcp service, which closes the transport.
    pub(super) service_cancel: CancellationToken,
    /// Resolves when the rmcp service stops (transport closed or cancelled).
    pub(super) service_done: JoinHandle<()>,
    /// Resolves when the child process exits (stdio only).
    pub(super) exited: Option<oneshot::Receiver<String>>,
    pub(super) notices: mpsc::Receiver<ServerNotice>,
}

/// The outcome of the handshake and first listings.
pub(super) struct Established {
    pub(super) connection: Connection,
    pub(super) listing: ServerListing,
    pub(super) listing_errors: Vec<String>,
    pub(super) protocol_version: String,
    pub(super) identity: Option<ServerIdentity>,
    pub(super) capabilities: Vec<String>,
    pub(super) startup_time: Duration,
}

pub(super) type ListingParts = (
    Option<Vec<rmcp::model::Tool>>,
    Option<Vec<rmcp::model::Resource>>,
    Option<Vec<rmcp::model::Prompt>>,
);

#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) startup: Duration,
    pub(super) request: Duration,
}

/// Which lists to fetch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted {
    pub(super) tools: bool,
    pub(super) resources: bool,
    pub(super) prompts: bool,
}

/// Handshake over a child's pipes. A process that dies during the handshake is reported with
/// its exit status rather than as a generic transport error.
pub(super) async fn establish_stdio(
    spawned: SpawnedServer,
    client: McpClient,
    notices: mpsc::Receiver<ServerNotice>,
    timeouts: Timeouts,
    started: Instant,
) -> Result<Established, String> {
    let SpawnedServer {
        stdout,
        stdin,
        mut exited,
        ..
    } = spawned;
    let transport = AsyncRwTransport::<RoleClient, _, _>::new(stdout, stdin)
        .with_max_line_length(MAX_MESSAGE_BYTES);
    let service_cancel = CancellationToken::new();
    let handshake = timeout(
        timeouts.startup,
        client.serve_with_ct(transport, service_cancel.clone()),
    );
    let running = tokio::select! {
        result = handshake => match result {
            Ok(Ok(running)) => running,
            Ok(Err(error)) => {
                if let Ok(Ok(status)) = timeout(Duration::from_millis(200), &mut exited).await {
                    return Err(format!("{status} during initialize"));
                }
                return Err(format!("initialize failed: {}", sanitize_line(&error.to_string())));
            }
            Err(_) => {
                return Err(format!(
                    "no answer to initialize within {}",
                    human_duration(timeouts.startup)
                ));
            }
        },
        status = &mut exited => {
            let status = status.unwrap_or_else(|_| "the process exited".to_owned());
            return Err(format!("{status} before answering initialize"));
        }
    };
    finish_establish(
        running,
        service_cancel,
        Some(exited),
        notices,
        timeouts,
        started,
    )
    .await
}

/// After `initialize`: read what the server is, then list what it offers.
async fn finish_establish(
    running: RunningService<RoleClient, McpClient>,
    service_cancel: CancellationToken,
    exited: Option<oneshot::Receiver<String>>,
    notices: mpsc::Receiver<ServerNotice>,
    timeouts: Timeouts,
    started: Instant,
) -> Result<Established, String> {
    // If this future is dropped (shutdown during startup), end the session with it.
    let cancel_on_drop = service_cancel.clone().drop_guard();
    let peer = running.peer().clone();
    let info = peer.peer_info();
    let service_done = tokio::spawn(async move {
        let _ = running.waiting().await;
    });
    let requester = Requester::new(peer, timeouts.request);
    let (protocol_version, identity, capabilities, wanted) = match info.as_deref() {
        Some(info) => {
            let caps = &info.capabilities;
            let mut names = Vec::new();
            for (present, name) in [
                (caps.tools.is_some(), "tools"),
                (caps.resources.is_some(), "resources"),
                (caps.prompts.is_some(), "prompts"),
                (caps.logging.is_some(), "logging"),
                (caps.completions.is_some(), "completions"),
            ] {
                if present {
                    names.push(name.to_owned());
                }
            }
            let identity = info.server_info.as_ref().map(|i| ServerIdentity {
                name: sanitize_line(&i.name),
                version: sanitize_line(&i.version),
            });
            let wanted = Wanted {
                tools: caps.tools.is_some(),
                resources: caps.resources.is_some(),
                prompts: caps.prompts.is_some(),
            };
            (info.protocol_version.to_string(), identity, names, wanted)
        }
        None => return Err("the server sent no initialize result".to_owned()),
    };
    let ((tools, resources, prompts), listing_errors) = list_parts(&requester, wanted).await;
    cancel_on_drop.disarm();
    Ok(Established {
        connection: Connection {
            requester,
            service_cancel,
            service_done,
            exited,
            notices,
        },
        listing: ServerListing {
            tools: tools.unwrap_or_default(),
            resources: resources.unwrap_or_default(),
            prompts: prompts.unwrap_or_default(),
        },
        listing_errors,
        protocol_version,
        identity,
        capabilities,
        startup_time: started.elapsed(),
    })
}

/// Fetches the wanted lists concurrently; a list that fails is `None` plus an error line.
pub(super) async fn list_parts(
    requester: &Requester,
    wanted: Wanted,
) -> (ListingParts, Vec<String>) {
    let (tools, resources, prompts) = tokio::join!(
        async {
            match wanted.tools {
                true => Some(requester.list_tools().await),
                false => None,
            }
        },
        async {
            match wanted.resources {
                true => Some(requester.list_resources().await),
                false => None,
            }
        },
        async {
            match wanted.prompts {
                true => Some(requester.list_prompts().await),
                false => None,
            }
        },
    );
    let mut errors = Vec::new();
    let parts = (
        keep(tools, &mut errors),
        keep(resources, &mut errors),
        keep(prompts, &mut errors),
    );
    (parts, errors)
}

fn keep<T>(result: Option<Result<T, RequestError>>, errors: &mut Vec<String>) -> Option<T> {
    match result {
        Some(Ok(items)) => Some(items),
        Some(Err(error)) => {
            errors.push(error.to_string());
            None
        }
        None => None,
    }
}
