//! The agent without the dashboard (`mcpomni run`): one turn, with tool calls and servers'
//! sampling requests decided by `--approve` — `all`, `none`, or `ask` (a prompt on the
//! terminal; without a terminal `ask` means `none`).

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::policy::ApprovalPolicy;
use super::turn::{Approver, TurnContext, TurnRecord, run_turn};
use super::usage::UsageMeter;
use super::{AgentSettings, prompt, sampling};
use crate::llm::LlmProvider;
use crate::runtime::RuntimeHandle;
use crate::runtime::messages::{AgentMode, Decision, Event, ProposedCall, TurnId};
use crate::runtime::sampling::SamplingRequest;
use crate::text::sanitize;

/// `--approve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproveAll {
    All,
    None,
    Ask,
}

impl ApproveAll {
    /// `ask` needs someone to ask: without a terminal on stdin it becomes `none`.
    pub fn effective(self, stdin_is_terminal: bool) -> Self {
        match self {
            ApproveAll::Ask if !stdin_is_terminal => ApproveAll::None,
            other => other,
        }
    }
}

/// Answers approval prompts by policy, or by asking on the terminal (one prompt at a time).
pub struct HeadlessApprover {
    policy: ApproveAll,
    prompt_lock: Arc<tokio::sync::Mutex<()>>,
}

impl HeadlessApprover {
    pub fn new(policy: ApproveAll) -> Self {
        Self {
            policy,
            prompt_lock: Arc::default(),
        }
    }

    /// Asks `question` on stderr and reads the answer from stdin.
    async fn ask_terminal(&self, question: String, choices: &'static str) -> String {
        let _one_at_a_time = self.prompt_lock.lock().await;
        tokio::task::spawn_blocking(move || {
            let mut stderr = std::io::stderr();
            let _ = write!(stderr, "{question}\n{choices} ");
            let _ = stderr.flush();
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            line.trim().to_lowercase()
        })
        .await
        .unwrap_or_default()
    }
}

impl Approver for HeadlessApprover {
    fn ask(
        &self,
        _turn: TurnId,
        call: ProposedCall,
        index: usize,
        total: usize,
    ) -> BoxFuture<'static, Decision> {
        match self.policy {
            ApproveAll::All => Box::pin(async { Decision::Approve }),
            ApproveAll::None => Box::pin(async { Decision::Deny }),
            ApproveAll::Ask => {
                let approver = HeadlessApprover {
                    policy: self.policy,
                    prompt_lock: self.prompt_lock.clone(),
                };
                Box::pin(async move {
                    let arguments = serde_json::to_string_pretty(&call.arguments)
                        .unwrap_or_else(|_| call.arguments.to_string());
                    let question = format!(
                        "\nThe model wants to call {} ({} of {total}) with:\n{}",
                        call.qualified_name,
                        index + 1,
                        sanitize(&arguments)
                    );
                    match approver
                        .ask_terminal(question, "Run it? [y]es / [n]o / [a]lways / [c]ancel:")
                        .await
                        .as_str()
                    {
                        "y" | "yes" => Decision::Approve,
                        "a" | "always" => Decision::Always,
                        "c" | "cancel" => Decision::CancelTurn,
                        _ => Decision::Deny,
                    }
                })
            }
        }
    }
}

/// Serves servers' sampling requests by the same policy until `stop` fires.
async fn serve_sampling(
    mut requests: mpsc::Receiver<SamplingRequest>,
    approver: Arc<HeadlessApprover>,
    provider: Arc<dyn LlmProvider>,
    usage: Arc<Mutex<UsageMeter>>,
    stop: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            () = stop.cancelled() => return,
            request = requests.recv() => match request {
                Some(request) => request,
                None => return,
            },
        };
        let approved = match approver.policy {
            ApproveAll::All => true,
            ApproveAll::None => false,
            ApproveAll::Ask => {
                let messages: Vec<String> = request
                    .params
                    .messages
                    .iter()
                    .map(|m| sanitize(&sampling::message_text(m)))
                    .collect();
                let question = format!(
                    "\nServer `{}` asks your LLM for a completion (max {} tokens).\nSystem prompt: {}\nMessages:\n{}",
                    request.server,
                    request.params.max_tokens,
                    request
                        .params
                        .system_prompt
                        .as_deref()
                        .map(sanitize)
                        .unwrap_or_else(|| "(none)".into()),
                    messages.join("\n---\n")
                );
                matches!(
                    approver
                        .ask_terminal(question, "Allow it? [y]es / [n]o:")
                        .await
                        .as_str(),
                    "y" | "yes"
                )
            }
        };
        if approved {
            let params = request.params.clone();
            let server = request.server.clone();
            if !sampling::reply_with_sample(request, params, &*provider, &usage).await {
                eprintln!(
                    "mcpomni: server `{server}` stopped waiting for its sampling request; the LLM request was stopped"
                );
            }
        } else {
            let _ = request.reply.send(Err(rmcp::ErrorData::invalid_request(
                "the user declined the sampling request",
                None,
            )));
        }
    }
}

/// Runs one turn for `text`; progress events go to `events` (a closed channel drops them).
#[allow(clippy::too_many_arguments)]
pub async fn run_once(
    settings: &AgentSettings,
    provider: Arc<dyn LlmProvider>,
    runtime: RuntimeHandle,
    text: String,
    mode: AgentMode,
    approve: ApproveAll,
    sampling_requests: Option<mpsc::Receiver<SamplingRequest>>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> (TurnRecord, crate::runtime::messages::UsageTotals) {
    let usage = Arc::new(Mutex::new(UsageMeter::new(
        settings.price,
        settings.request_limit,
        settings.total_tokens_limit,
    )));
    let approver = Arc::new(HeadlessApprover::new(
        approve.effective(std::io::stdin().is_terminal()),
    ));
    let stop_sampling = CancellationToken::new();
    if let Some(requests) = sampling_requests {
        tokio::spawn(serve_sampling(
            requests,
            approver.clone(),
            provider.clone(),
            usage.clone(),
            stop_sampling.clone(),
        ));
    }
    let ctx = TurnContext {
        turn: TurnId(1),
        mode,
        provider,
        runtime,
        events,
        approver,
        policy: Arc::new(Mutex::new(ApprovalPolicy::new(settings.approval.clone()))),
        usage: usage.clone(),
        max_steps: settings.max_steps,
        system_prompt: prompt::system_prompt(mode),
        cancel,
    };
    let record = run_turn(&ctx, Vec::new(), text).await;
    stop_sampling.cancel();
    let session = usage
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .session;
    (record, session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_without_a_terminal_means_none() {
        assert_eq!(ApproveAll::Ask.effective(false), ApproveAll::None);
        assert_eq!(ApproveAll::Ask.effective(true), ApproveAll::Ask);
        assert_eq!(ApproveAll::All.effective(false), ApproveAll::All);
    }
}
