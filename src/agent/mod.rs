//! The agent: the conversation with the LLM and the tool-calling loop. [`AgentHandle`] talks to
//! an actor that owns the conversation history, the session's usage and approvals, runs one
//! turn at a time (`turn.rs`) on its own task, routes the user's approval decisions to the
//! waiting turn, and answers servers' sampling requests once the user approves them.
//!
//! Files: `turn` (the loop), `ask` (one model request, streamed and traced), `fit` (the
//! history fitted to the context before each request, the meter and the `context` step),
//! `tool_call` (one call: approval, progress, result), `trace`
//! (recording typed steps), `policy` (who may run without asking), `usage` (tokens, requests,
//! cost, limits), `sampling` (serving `sampling/createMessage`), `prompt` (the system prompt),
//! `react_text` (the text tool-calling protocol), `repeat` (loop detection),
//! `headless` (the non-interactive `run` command's approvals), `tool_runner` (where tool calls
//! go: the runtime, or a recording). The vocabulary it speaks with
//! its clients is `crate::protocol`.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

mod ask;
mod compact;
pub mod debugger;
mod fit;
pub mod headless;
pub mod orchestrator;
mod pause;
pub mod policy;
pub mod prompt;
pub mod react_text;
pub mod repeat;
pub mod sampling;
pub mod session_steps;
pub mod sessions;
pub mod tool_call;
pub mod tool_runner;
pub mod trace;
pub mod turn;
pub mod usage;

pub use ask::tool_specs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ApprovalConfig, Config, Price, ToolCalling};
use crate::llm::{ChatMessage, LlmProvider};
use crate::memory::context::{ContextFitter, ContextPolicy};
use crate::protocol::debug::DebugCommand;
use crate::protocol::{
    AgentCommand, AgentEvent, AgentMode, AgentNotice, ApprovalId, Decision, IdSource, ProposedCall,
    SamplingId, StepId, TurnId, TurnOutcome, UsageTotals,
};
use crate::runtime::RuntimeHandle;
use crate::runtime::sampling::SamplingRequest;
use debugger::{Debugger, Resume, UiPauses};
use policy::ApprovalPolicy;
use trace::Tracer;
use turn::{Approver, ToolProtocol, TurnContext, TurnRecord, run_turn};
use usage::UsageMeter;

/// What the agent takes from the config.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub max_steps: u32,
    /// Sub-agents of one orchestrator phase running at once.
    pub max_parallel_agents: usize,
    /// Start in step mode (`--step`).
    pub step: bool,
    /// `AgentConfig.breakpoints` and `--break`.
    pub breakpoints: Vec<crate::protocol::debug::Breakpoint>,
    pub approval: ApprovalConfig,
    pub request_limit: u64,
    pub total_tokens_limit: u64,
    /// How much history the model sees (`memory_config`, `LLM.max_context_length`).
    pub context: ContextPolicy,
    pub price: Option<Price>,
    pub tool_calling: ToolCalling,
    /// Where every step is saved as it happens (`--trace FILE`), besides the events.
    pub trace: Option<Arc<dyn trace::StepSink>>,
    /// Where each finished turn's messages and usage are stored (none: kept in memory only).
    pub session: Option<crate::memory::writer::SessionSink>,
    /// The conversation a resumed session continues.
    pub history: Vec<ChatMessage>,
    /// The store sessions are kept in (none: conversations are not saved), for the
    /// dashboard's session commands.
    pub store: Option<crate::memory::SharedStore>,
    /// Where a resumed session's stored trace ends: new steps are numbered after it.
    pub last_step: StepId,
    /// And its turns (`run` numbers its turn after them; the dashboard numbers its own).
    pub last_turn: TurnId,
    /// A store that could not be opened at start and is being tried again: when it comes,
    /// the conversation so far is written to a new session in it.
    pub late_store: sessions::LateStore,
}

impl AgentSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_steps: config.agent.max_steps.max(1),
            max_parallel_agents: usize::try_from(config.agent.max_parallel_agents.max(1))
                .unwrap_or(usize::MAX),
            step: config.agent.step,
            breakpoints: config.agent.breakpoints.clone(),
            approval: config.agent.approval.clone(),
            request_limit: config.agent.request_limit,
            total_tokens_limit: config.agent.total_tokens_limit,
            context: ContextPolicy::from_config(&config.agent.memory_config, config.llm.as_ref()),
            price: config.llm.as_ref().and_then(|llm| llm.price),
            tool_calling: config
                .llm
                .as_ref()
                .map_or(ToolCalling::default(), |llm| llm.tool_calling),
            trace: None,
            session: None,
            history: Vec::new(),
            store: None,
            late_store: sessions::LateStore::default(),
            last_step: StepId(0),
            last_turn: TurnId(0),
        }
    }

    /// Where a run's steps are saved besides its events: the trace file, then the session.
    pub fn step_sink(&self) -> Option<Arc<dyn trace::StepSink>> {
        session_steps::combine([
            self.trace.clone(),
            self.session.clone().map(|sink| {
                Arc::new(session_steps::SessionSteps::new(sink)) as Arc<dyn trace::StepSink>
            }),
        ])
    }

    /// The protocol a session starts with.
    pub fn initial_protocol(&self) -> ToolProtocol {
        match self.tool_calling {
            ToolCalling::Text => ToolProtocol::Text,
            ToolCalling::Native | ToolCalling::Auto => ToolProtocol::Native,
        }
    }
}

/// What a finished turn adds to its stored session: its messages as the model saw them, then
/// what it cost.
pub(crate) fn turn_entries(record: &TurnRecord) -> Vec<crate::memory::SessionEntry> {
    use crate::memory::{EntryBody, SessionEntry};
    let mut entries: Vec<SessionEntry> = record
        .messages
        .iter()
        .cloned()
        .map(SessionEntry::message)
        .collect();
    if record.usage.requests > 0 {
        entries.push(SessionEntry::now(EntryBody::Usage {
            input_tokens: record.usage.input_tokens,
            output_tokens: record.usage.output_tokens,
            cost_usd: record.usage.cost,
        }));
    }
    entries
}

/// Asks through the dashboard: an `ApprovalRequested` event out, the user's `Decide` back.
struct UiApprover {
    events: mpsc::Sender<AgentEvent>,
    pending: Arc<Mutex<HashMap<ApprovalId, oneshot::Sender<Decision>>>>,
    next: AtomicU64,
}

impl Approver for UiApprover {
    fn ask(
        &self,
        turn: TurnId,
        call: ProposedCall,
        index: usize,
        total: usize,
    ) -> BoxFuture<'static, Decision> {
        let approval = ApprovalId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (reply, answer) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(approval, reply);
        let events = self.events.clone();
        Box::pin(async move {
            let _ = events
                .send(AgentEvent::ApprovalRequested {
                    turn,
                    approval,
                    call,
                    index,
                    total,
                })
                .await;
            // A dropped prompt (the app is closing) cancels the turn rather than running.
            answer.await.unwrap_or(Decision::CancelTurn)
        })
    }
}

/// Sends commands to the agent. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AgentHandle {
    tx: mpsc::UnboundedSender<AgentCommand>,
}

impl AgentHandle {
    pub fn send(&self, command: AgentCommand) {
        let _ = self.tx.send(command);
    }

    /// A handle with no agent behind it: what is sent arrives on the returned receiver (for
    /// tests of the dashboard's loop).
    pub fn detached() -> (Self, mpsc::UnboundedReceiver<AgentCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

struct Running {
    turn: TurnId,
    cancel: CancellationToken,
    task: JoinHandle<TurnRecord>,
}

struct AgentActor {
    settings: AgentSettings,
    provider: Arc<dyn LlmProvider>,
    runtime: RuntimeHandle,
    events: mpsc::Sender<AgentEvent>,
    ids: Arc<IdSource>,
    history: Vec<ChatMessage>,
    policy: Arc<Mutex<ApprovalPolicy>>,
    usage: Arc<Mutex<UsageMeter>>,
    /// Fits the conversation to the context; its counts last across turns.
    context: ContextFitter,
    approver: Arc<UiApprover>,
    debugger: Arc<Debugger>,
    pauses: Arc<UiPauses>,
    running: Option<Running>,
    /// How tools reach the model; an `auto` session that fell back to text stays there.
    protocol: ToolProtocol,
    /// Where the user's answer to each open sampling prompt goes.
    sampling: HashMap<SamplingId, oneshot::Sender<sampling::SamplingDecision>>,
    next_sampling: u64,
    /// A `/compact` summary being written.
    compacting: Option<JoinHandle<compact::Compacted>>,
    /// The store, once it can be opened (see [`AgentSettings::late_store`]).
    late_store: Option<oneshot::Receiver<crate::memory::SharedStore>>,
}

/// Room in the agent's event stream; the dashboard drains it every frame.
const EVENT_QUEUE: usize = 1024;

/// Starts the agent for the dashboard. `sampling` receives servers' sampling requests; the
/// agent reports on the returned stream.
pub fn spawn(
    settings: AgentSettings,
    provider: Arc<dyn LlmProvider>,
    runtime: RuntimeHandle,
    sampling: mpsc::Receiver<SamplingRequest>,
) -> (AgentHandle, mpsc::Receiver<AgentEvent>) {
    // The encoder (~45 MB, ~300 ms) loads with the first turn, not here: a dashboard that is
    // only watched never pays for it.
    let (tx, commands) = mpsc::unbounded_channel();
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    let pauses = Arc::new(UiPauses::new(events.clone()));
    let debugger = Debugger::new(pauses.clone());
    debugger.set_step_mode(settings.step);
    debugger.set_breakpoints(settings.breakpoints.clone());
    let history = settings.history.clone();
    let actor = AgentActor {
        protocol: settings.initial_protocol(),
        debugger: Arc::new(debugger),
        pauses,
        policy: Arc::new(Mutex::new(ApprovalPolicy::new(settings.approval.clone()))),
        usage: Arc::new(Mutex::new(UsageMeter::new(
            settings.price,
            settings.request_limit,
            settings.total_tokens_limit,
        ))),
        context: ContextFitter::new(settings.context),
        approver: Arc::new(UiApprover {
            events: events.clone(),
            pending: Arc::default(),
            next: AtomicU64::new(0),
        }),
        settings,
        provider,
        runtime,
        events,
        ids: Arc::default(),
        history,
        running: None,
        sampling: HashMap::new(),
        next_sampling: 0,
        compacting: None,
        late_store: None,
    };
    let mut actor = actor;
    actor.late_store = actor.settings.late_store.take();
    actor.ids.steps_after(actor.settings.last_step);
    if let Some(sink) = &actor.settings.session {
        actor.watch_saves(sink);
    }
    tokio::spawn(actor.run(commands, sampling));
    (AgentHandle { tx }, events_rx)
}

impl AgentActor {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<AgentCommand>,
        mut sampling: mpsc::Receiver<SamplingRequest>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => break,
                },
                record = finished(&mut self.running) => self.on_finished(record).await,
                done = compacted(&mut self.compacting) => self.on_compacted(done).await,
                store = sessions::late_store(&mut self.late_store) => self.attach_store(store).await,
                Some(request) = sampling.recv() => self.on_sampling_request(request).await,
            }
        }
        if let Some(running) = self.running.take() {
            running.cancel.cancel();
        }
    }

    async fn notice(&self, notice: AgentNotice) {
        let _ = self.events.send(AgentEvent::Notice(notice)).await;
    }

    async fn on_command(&mut self, command: AgentCommand) {
        match command {
            AgentCommand::StartTurn { turn, text, mode } => {
                self.start_turn(turn, text, mode).await;
            }
            AgentCommand::Decide { approval, decision } => {
                let waiting = self
                    .approver
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&approval);
                if let Some(reply) = waiting {
                    let _ = reply.send(decision);
                }
            }
            AgentCommand::CancelTurn { turn } => {
                if let Some(running) = &self.running
                    && running.turn == turn
                {
                    running.cancel.cancel();
                }
            }
            AgentCommand::DecideSampling { id, approved } => self.decide_sampling(id, approved),
            AgentCommand::Debug(command) => match command {
                DebugCommand::SetStepMode(on) => self.debugger.set_step_mode(on),
                DebugCommand::SetBreakpoints(breakpoints) => {
                    self.debugger.set_breakpoints(breakpoints);
                }
                DebugCommand::Resume {
                    pause,
                    action,
                    edit,
                } => self.pauses.resume(pause, Resume { action, edit }),
            },
            AgentCommand::Fork {
                turn,
                from,
                messages,
            } => self.start_fork(turn, from, messages).await,
            AgentCommand::Session(command) => self.on_session_command(command).await,
            AgentCommand::ClearConversation => {
                // Clearing under a running turn would lose what it streams and appends.
                if self.running.is_some() {
                    self.notice(AgentNotice::ClearRefused).await;
                } else {
                    self.history.clear();
                    self.notice(AgentNotice::ConversationCleared).await;
                }
            }
        }
    }

    /// Refuses a second run while one is going; true when it refused.
    async fn refuse_if_busy(&mut self, turn: TurnId) -> bool {
        if self.running.is_none() {
            return false;
        }
        self.notice(AgentNotice::TurnBusy).await;
        let _ = self
            .events
            .send(AgentEvent::TurnFinished {
                turn,
                outcome: TurnOutcome::Failed("another turn was running".into()),
                turn_usage: Default::default(),
                session_usage: self.session_usage(),
            })
            .await;
        true
    }

    fn turn_context(
        &self,
        turn: TurnId,
        mode: AgentMode,
        cancel: CancellationToken,
    ) -> TurnContext {
        TurnContext {
            turn,
            mode,
            provider: self.provider.clone(),
            runtime: self.runtime.clone(),
            tools: tool_runner::runtime_runner(&self.runtime),
            events: self.events.clone(),
            tracer: Tracer::new(self.ids.clone(), self.events.clone(), Some(turn))
                .saving_to(self.step_sink()),
            approver: self.approver.clone(),
            policy: self.policy.clone(),
            usage: self.usage.clone(),
            context: self.context.clone(),
            max_steps: self.settings.max_steps,
            system_prompt: prompt::system_prompt(mode),
            cancel,
            stream_text: true,
            protocol: self.protocol,
            fallback: self.settings.tool_calling == ToolCalling::Auto,
            debugger: self.debugger.clone(),
        }
    }

    /// A fork runs in the mode of the moment; its messages are its own, and what it says is
    /// not added to the conversation (the original branch stays the conversation).
    async fn start_fork(&mut self, turn: TurnId, from: StepId, messages: Vec<ChatMessage>) {
        if self.refuse_if_busy(turn).await {
            return;
        }
        let cancel = CancellationToken::new();
        let ctx = self.turn_context(turn, AgentMode::Chat, cancel.clone());
        let task = tokio::spawn(async move {
            let mut record = turn::run_fork(&ctx, from, messages).await;
            record.messages.clear();
            record
        });
        self.running = Some(Running { turn, cancel, task });
    }

    async fn start_turn(&mut self, turn: TurnId, text: String, mode: AgentMode) {
        if self.refuse_if_busy(turn).await {
            return;
        }
        // Off this thread; the first request's counts are estimates until it is ready.
        crate::memory::tokens::warm_up();
        let cancel = CancellationToken::new();
        let ctx = self.turn_context(turn, mode, cancel.clone());
        let history = self.history.clone();
        let max_parallel = self.settings.max_parallel_agents;
        let task =
            tokio::spawn(async move { run_turn_in_mode(&ctx, history, text, max_parallel).await });
        self.running = Some(Running { turn, cancel, task });
    }

    /// Where this run's steps are saved besides the events: the trace file and the session.
    fn step_sink(&self) -> Option<Arc<dyn trace::StepSink>> {
        self.settings.step_sink()
    }

    fn session_usage(&self) -> UsageTotals {
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .session
    }

    async fn on_finished(&mut self, record: Result<TurnRecord, tokio::task::JoinError>) {
        let Some(running) = self.running.take() else {
            return;
        };
        // Any prompt or pause still open belongs to the finished turn.
        self.pauses.forget_all();
        self.approver
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let (outcome, turn_usage) = match record {
            Ok(record) => {
                self.protocol = record.protocol;
                if let Some(session) = &self.settings.session {
                    session.write(turn_entries(&record));
                }
                self.history.extend(record.messages);
                (record.outcome, record.usage)
            }
            Err(error) => (
                TurnOutcome::Failed(format!("the turn crashed: {error}")),
                Default::default(),
            ),
        };
        let _ = self
            .events
            .send(AgentEvent::TurnFinished {
                turn: running.turn,
                outcome,
                turn_usage,
                session_usage: self.session_usage(),
            })
            .await;
    }

    async fn on_sampling_request(&mut self, request: SamplingRequest) {
        self.next_sampling += 1;
        let id = SamplingId(self.next_sampling);
        let event = AgentEvent::SamplingRequested {
            id,
            server: request.server.clone(),
            params: Box::new(request.params.clone()),
        };
        // The prompt is queued before its task can withdraw it, so the dashboard never sees
        // a withdrawal before the request.
        let _ = self.events.send(event).await;
        // A withdrawn prompt's task has ended, leaving a closed sender behind.
        self.sampling.retain(|_, decision| !decision.is_closed());
        let (decision, decided) = oneshot::channel();
        self.sampling.insert(id, decision);
        tokio::spawn(sampling::serve_when_decided(
            id,
            request,
            decided,
            self.provider.clone(),
            self.usage.clone(),
            Tracer::new(self.ids.clone(), self.events.clone(), None).saving_to(self.step_sink()),
        ));
    }

    /// The user's answer reaches the request's waiting task; a request the server already
    /// gave up on has no task left, and its prompt was withdrawn.
    fn decide_sampling(&mut self, id: SamplingId, approved: sampling::SamplingDecision) {
        if let Some(decision) = self.sampling.remove(&id) {
            let _ = decision.send(approved);
        }
    }
}

/// One turn as its mode runs it: the tool loop (chat, auto) or a plan of sub-agents.
pub async fn run_turn_in_mode(
    ctx: &TurnContext,
    history: Vec<ChatMessage>,
    text: String,
    max_parallel_agents: usize,
) -> TurnRecord {
    match ctx.mode {
        AgentMode::Orchestrator => {
            orchestrator::run_orchestration(ctx, history, text, max_parallel_agents).await
        }
        AgentMode::Chat | AgentMode::Auto => run_turn(ctx, history, text).await,
    }
}

async fn compacted(
    compacting: &mut Option<JoinHandle<compact::Compacted>>,
) -> Result<compact::Compacted, tokio::task::JoinError> {
    match compacting {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

async fn finished(running: &mut Option<Running>) -> Result<TurnRecord, tokio::task::JoinError> {
    match running {
        Some(running) => (&mut running.task).await,
        None => std::future::pending().await,
    }
}
