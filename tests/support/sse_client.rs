//! Shared pieces of the SSE transport tests: a recording client handler and connect helpers.
#![allow(dead_code, deprecated, clippy::disallowed_methods, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpomni::runtime::sse::{SseClientConfig, SseTransportError, SseWorker};
use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitationCapability, Implementation,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion, RootsCapabilities,
    SamplingCapability,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::worker::WorkerTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::sync::watch;

pub const STEP: Duration = Duration::from_secs(15);

pub fn install_crypto() {
    // Errors only when already installed by another test in this process.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn http_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder().build().unwrap()
}

#[derive(Default, Debug, Clone)]
pub struct Events {
    pub progress: Vec<f64>,
    pub logs: Vec<String>,
    pub tools_changed: usize,
}

/// Records notifications; declares roots/sampling/elicitation (server-everything then
/// registers extra tools and sends tools/list_changed).
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Events>>);

impl Recorder {
    pub fn events(&self) -> Events {
        self.0.lock().unwrap().clone()
    }

    /// Poll until `check` holds, or panic after `within`.
    pub async fn wait_for(&self, what: &str, within: Duration, check: impl Fn(&Events) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if check(&self.events()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}: {:?}", self.events());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().progress.push(params.progress);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().logs.push(params.data.to_string());
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().tools_changed += 1;
    }

    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        capabilities.roots = Some(RootsCapabilities::default());
        capabilities.sampling = Some(SamplingCapability::default());
        capabilities.elicitation = Some(ElicitationCapability::default());
        ClientConfig::new(capabilities, Implementation::new("sse-scratch", "0.0.0"))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

pub type Client = RunningService<RoleClient, Recorder>;

pub fn config(url: &str) -> SseClientConfig {
    let mut config = SseClientConfig::new(url);
    config.connect_timeout = Duration::from_secs(5);
    config
}

/// Connect over SSE; returns the client, its recorder and the worker's exit error.
pub async fn connect(
    config: SseClientConfig,
) -> Result<(Client, Recorder, watch::Receiver<Option<SseTransportError>>), String> {
    let worker = SseWorker::new(http_client(), config);
    let exit = worker.exit_error();
    let recorder = Recorder::default();
    let serve = recorder.clone().serve(WorkerTransport::spawn(worker));
    match tokio::time::timeout(STEP, serve).await {
        Ok(Ok(client)) => Ok((client, recorder, exit)),
        Ok(Err(e)) => {
            // What the runtime shows: the worker's own error, without rmcp's wrapping (which
            // names the transport's Rust type). It must never name a type itself.
            let text = match &e {
                rmcp::service::ClientInitializeError::TransportError { error, context } => {
                    format!("{context}: {}", error.error)
                }
                other => other.to_string(),
            };
            crate::support::assert_no_type_path(&text);
            Err(text)
        }
        Err(_) => panic!("serve did not finish within {STEP:?}"),
    }
}

/// Wait until the worker reports the error it stopped with.
pub async fn exit_error(
    exit: &mut watch::Receiver<Option<SseTransportError>>,
    within: Duration,
) -> SseTransportError {
    match tokio::time::timeout(within, exit.wait_for(|e| e.is_some())).await {
        Ok(Ok(error)) => error.clone().unwrap(),
        Ok(Err(_)) => panic!("the worker was dropped without reporting an error"),
        Err(_) => panic!("the worker did not stop within {within:?}"),
    }
}

/// Run one request future with the step timeout.
pub async fn step<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not answer within {STEP:?}"),
    }
}
