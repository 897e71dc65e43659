//! The agent without the dashboard (`mcpomni run`): one turn, with tool calls and servers'
//! sampling requests decided by `--approve` — `all`, `none`, or `ask` (a prompt on the
//! terminal; without a terminal `ask` means `none`, and stderr says so once).

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::debugger::{Debugger, PauseHandler, Resume};
use super::policy::ApprovalPolicy;
use super::trace::Tracer;
use super::turn::{Approver, TurnContext, TurnRecord};
use super::usage::UsageMeter;
use super::{AgentSettings, prompt, sampling};
use crate::llm::LlmProvider;
use crate::protocol::debug::{DebugAction, PauseAt, PauseReason, Paused};
use crate::protocol::{
    AgentEvent, AgentMode, ApprovedBy, Decision, IdSource, ProposedCall, TurnId, UsageTotals,
};
use crate::runtime::RuntimeHandle;
use crate::runtime::sampling::SamplingRequest;
use crate::text::{sanitize, sanitize_line, truncate_chars};

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
    /// `ask` was wanted but there is no terminal to ask on.
    nobody_to_ask: bool,
    prompt_lock: Arc<tokio::sync::Mutex<()>>,
    /// The "calls are denied" notice was printed.
    told_denied: Arc<std::sync::atomic::AtomicBool>,
}

/// One answer typed at the `ask` prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Always,
    Cancel,
}

impl Answer {
    /// What was typed, or `None` for something that is not an answer. An empty line takes the
    /// default, `no`: running a call needs a deliberate yes.
    pub fn parse(typed: &str) -> Option<Self> {
        match typed.trim().to_lowercase().as_str() {
            "" | "n" | "no" => Some(Answer::No),
            "y" | "yes" => Some(Answer::Yes),
            "a" | "always" => Some(Answer::Always),
            "c" | "cancel" => Some(Answer::Cancel),
            _ => None,
        }
    }
}

const CALL_CHOICES: &str = "Run it? [y]es / [N]o / [a]lways / [c]ancel the run (default: no):";

impl HeadlessApprover {
    pub fn new(policy: ApproveAll, stdin_is_terminal: bool) -> Self {
        Self {
            policy: policy.effective(stdin_is_terminal),
            nobody_to_ask: policy == ApproveAll::Ask && !stdin_is_terminal,
            prompt_lock: Arc::default(),
            told_denied: Arc::default(),
        }
    }

    fn share(&self) -> Self {
        Self {
            policy: self.policy,
            nobody_to_ask: self.nobody_to_ask,
            prompt_lock: self.prompt_lock.clone(),
            told_denied: self.told_denied.clone(),
        }
    }

    async fn ask_terminal(&self, question: String, choices: &'static str) -> Option<String> {
        ask_terminal(question, choices).await
    }

    /// Asks until the answer is one of the choices; end of input counts as the default.
    async fn ask_call(&self, question: String) -> Answer {
        let _one_at_a_time = self.prompt_lock.lock().await;
        let mut question = question;
        loop {
            let Some(typed) = self.ask_terminal(question, CALL_CHOICES).await else {
                return Answer::No;
            };
            match Answer::parse(&typed) {
                Some(answer) => return answer,
                None => {
                    question = format!(
                        "`{}` is not an answer: type y, n, a or c (Enter means no).",
                        crate::text::sanitize_line(typed.trim())
                    );
                }
            }
        }
    }

    /// Without a terminal nobody can approve calls: say so once, on the first call.
    fn tell_denied_once(&self) {
        if self.nobody_to_ask
            && !self
                .told_denied
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            eprintln!(
                "mcpomni run: stdin is not a terminal, so nobody can approve tool calls: they \
                 are denied (use --approve all to run them, or run from a terminal)"
            );
        }
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
            ApproveAll::None => {
                self.tell_denied_once();
                Box::pin(async { Decision::Deny })
            }
            ApproveAll::Ask => {
                let approver = self.share();
                Box::pin(async move {
                    let arguments = serde_json::to_string_pretty(&call.arguments)
                        .unwrap_or_else(|_| call.arguments.to_string());
                    let question = format!(
                        "\nThe model wants to call {} ({} of {total}) with:\n{}",
                        call.qualified_name,
                        index + 1,
                        sanitize(&arguments)
                    );
                    match approver.ask_call(question).await {
                        Answer::Yes => Decision::Approve,
                        Answer::Always => Decision::Always,
                        Answer::No => Decision::Deny,
                        Answer::Cancel => {
                            eprintln!("mcpomni run: cancelled: the run stops here.");
                            Decision::CancelTurn
                        }
                    }
                })
            }
        }
    }

    fn approver(&self) -> ApprovedBy {
        match self.policy {
            ApproveAll::All => ApprovedBy::ApproveAllFlag,
            ApproveAll::None | ApproveAll::Ask => ApprovedBy::User,
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
                let _one_at_a_time = approver.prompt_lock.lock().await;
                let typed = approver
                    .ask_terminal(question, "Allow it? [y]es / [N]o (default: no):")
                    .await;
                matches!(
                    Answer::parse(typed.as_deref().unwrap_or("")),
                    Some(Answer::Yes)
                )
            }
        };
        if approved {
            let params = request.params.clone();
            let server = request.server.clone();
            let answered = sampling::reply_with_sample(request, params, &*provider, &usage).await;
            if answered.is_none() {
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

/// Asks `question` on stderr and reads one line from stdin (`None` at end of input).
async fn ask_terminal(question: String, choices: &'static str) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "{question}\n{choices} ");
        let _ = stderr.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    })
    .await
    .ok()
    .flatten()
}

/// `run --step` / `--break`: a pause asks on the terminal what to do next.
pub struct TerminalPauses;

const PAUSE_CHOICES: &str = "[s]tep / [c]ontinue / [q]uit?";

impl PauseHandler for TerminalPauses {
    fn ask(&self, paused: Paused) -> BoxFuture<'static, Resume> {
        Box::pin(async move {
            let reason = match &paused.reason {
                PauseReason::Stepping => "stepping".to_owned(),
                PauseReason::Breakpoint(breakpoint) => format!("breakpoint {breakpoint}"),
            };
            let mut question = sanitize_line(&format!(
                "paused at step {} ({reason}): {}",
                paused.step,
                paused.at.describe()
            ));
            if let PauseAt::Tool { call } = &paused.at {
                question.push_str(&format!(
                    "\n  arguments: {}",
                    truncate_chars(&sanitize_line(&call.arguments.to_string()), 500)
                ));
            }
            loop {
                let Some(typed) = ask_terminal(question.clone(), PAUSE_CHOICES).await else {
                    return Resume {
                        action: DebugAction::Stop,
                        edit: None,
                    };
                };
                let action = match typed.trim().to_ascii_lowercase().as_str() {
                    "s" | "step" | "" => DebugAction::Step,
                    "c" | "continue" => DebugAction::Continue,
                    "q" | "quit" => DebugAction::Stop,
                    _ => {
                        question = format!("Answer s, c or q. {}", paused.at.describe());
                        continue;
                    }
                };
                return Resume { action, edit: None };
            }
        })
    }
}

/// The run's debugger: asking on the terminal when `--step` or a breakpoint is set.
fn debugger_for(settings: &AgentSettings) -> Debugger {
    if !settings.step && settings.breakpoints.is_empty() {
        return Debugger::off();
    }
    let debugger = Debugger::new(Arc::new(TerminalPauses));
    debugger.set_step_mode(settings.step);
    debugger.set_breakpoints(settings.breakpoints.clone());
    debugger
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
    events: mpsc::Sender<AgentEvent>,
    cancel: CancellationToken,
) -> (TurnRecord, UsageTotals) {
    crate::memory::tokens::warm_up();
    let usage = Arc::new(Mutex::new(UsageMeter::new(
        settings.price,
        settings.request_limit,
        settings.total_tokens_limit,
    )));
    let approver = Arc::new(HeadlessApprover::new(
        approve,
        std::io::stdin().is_terminal(),
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
    // A resumed session's stored trace keeps its ids: this turn and its steps come after it.
    let turn = TurnId(settings.last_turn.0 + 1);
    let ids = Arc::new(IdSource::default());
    ids.steps_after(settings.last_step);
    let ctx = TurnContext {
        turn,
        mode,
        provider,
        tools: super::tool_runner::runtime_runner(&runtime),
        runtime,
        tracer: Tracer::new(ids, events.clone(), Some(turn)).saving_to(settings.step_sink()),
        events,
        approver,
        policy: Arc::new(Mutex::new(ApprovalPolicy::new(settings.approval.clone()))),
        usage: usage.clone(),
        context: crate::memory::context::ContextFitter::new(settings.context),
        max_steps: settings.max_steps,
        system_prompt: prompt::system_prompt(mode),
        cancel,
        stream_text: true,
        debugger: Arc::new(debugger_for(settings)),
        protocol: settings.initial_protocol(),
        fallback: settings.tool_calling == crate::config::ToolCalling::Auto,
    };
    let record = super::run_turn_in_mode(
        &ctx,
        settings.history.clone(),
        text,
        settings.max_parallel_agents,
    )
    .await;
    if let Some(session) = &settings.session {
        session.write(super::turn_entries(&record));
    }
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
    fn answers_at_the_prompt_default_to_no_and_reject_anything_else() {
        assert_eq!(Answer::parse("\n"), Some(Answer::No));
        assert_eq!(Answer::parse(" Y \n"), Some(Answer::Yes));
        assert_eq!(Answer::parse("always"), Some(Answer::Always));
        assert_eq!(Answer::parse("c"), Some(Answer::Cancel));
        assert_eq!(Answer::parse("yep"), None);
        assert_eq!(Answer::parse("q"), None);
    }

    #[test]
    fn calls_approved_by_the_flag_say_so() {
        assert_eq!(
            HeadlessApprover::new(ApproveAll::All, false).approver(),
            ApprovedBy::ApproveAllFlag
        );
        assert_eq!(
            HeadlessApprover::new(ApproveAll::Ask, true).approver(),
            ApprovedBy::User
        );
    }

    #[test]
    fn ask_without_a_terminal_means_none() {
        assert_eq!(ApproveAll::Ask.effective(false), ApproveAll::None);
        assert_eq!(ApproveAll::Ask.effective(true), ApproveAll::Ask);
        assert_eq!(ApproveAll::All.effective(false), ApproveAll::All);
    }
}
