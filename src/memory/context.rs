//! Fitting a conversation to the model's context before every request. The agent hands over
//! what it is about to send — system prompt, tool definitions, the history with the current
//! turn at its end — and gets back which messages go (the oldest whole turns first), which
//! over-long messages of the current turn are cut, what the request will cost, and a report
//! of what was left out.
//!
//! The rules, whatever the limits:
//! - the system prompt and the current turn (the user's message and everything after it) are
//!   always sent;
//! - the history is only ever cut where a user turn starts, so a tool call never loses its
//!   result and the history sent starts with a user message (a `/compact` summary is just an
//!   old user message here);
//! - a turn that cannot fit whole after everything older went is cut message by message,
//!   largest first, each with a marker saying how much was taken out (`cut.rs`) — never
//!   dropped.
//!
//! The limits: `AgentConfig.memory_config` (`sliding_window`: at most N messages;
//! `token_budget`: at most N tokens of history) and `LLM.max_context_length` minus what is
//! kept for the reply (`LLM.max_tokens`) for the whole request. Tokens are counted with
//! OpenAI's encoding (`tokens.rs`) and scaled by a running ratio of what the provider reported
//! to what was estimated ([`Calibration`]), since other models split text differently.
//!
//! [`ContextFitter`] is a cheap handle: the policy, the calibration (shared by everything the
//! agent asks) and the cached counts of one conversation (`counts.rs`; sub-agents get their
//! own, so they do not evict the conversation's).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::{LlmConfig, MemoryConfig, MemoryMode};
use crate::llm::{ChatMessage, ToolSpec, Usage};

use super::counts::{self, Counted, MessageCounts};
use super::cut::{self, MARKER_TOKENS};
use super::tokens::{self, TokenCount};

/// What is kept for the reply when `LLM.max_tokens` is not set: this much, or a quarter of
/// the window if that is less (a small local model's window must not go to the reply).
const DEFAULT_REPLY_RESERVE: u64 = 4_096;

/// Counting more than this many bytes of new messages at once moves to a blocking thread
/// (the first request of a resumed long session), so a tokio worker is never held for long.
const OFFLOAD_BYTES: usize = 256 * 1024;

/// How much history the model may see, from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextPolicy {
    pub mode: MemoryMode,
    /// Messages (sliding window) or tokens (token budget); 0 sets no limit.
    pub value: u64,
    /// `LLM.max_context_length`: the model's window, in the model's tokens.
    pub window: Option<u64>,
    /// What is kept free for the reply.
    pub reply_reserve: u64,
}

impl ContextPolicy {
    pub fn from_config(memory: &MemoryConfig, llm: Option<&LlmConfig>) -> Self {
        let window = llm
            .and_then(|llm| llm.max_context_length)
            .filter(|&w| w > 0)
            .map(u64::from);
        let reply_reserve = match (llm.and_then(|llm| llm.max_tokens), window) {
            (Some(max_tokens), _) => u64::from(max_tokens),
            (None, Some(window)) => DEFAULT_REPLY_RESERVE.min(window / 4),
            (None, None) => 0,
        };
        Self {
            mode: memory.mode,
            value: memory.value,
            window,
            reply_reserve,
        }
    }

    /// Everything goes (replaying a recording: its requests are not sent anywhere).
    pub fn unlimited() -> Self {
        Self {
            mode: MemoryMode::SlidingWindow,
            value: 0,
            window: None,
            reply_reserve: 0,
        }
    }

    /// The most the whole request may take, in the model's tokens.
    pub fn request_limit(&self) -> Option<u64> {
        self.window
            .map(|window| window.saturating_sub(self.reply_reserve))
    }

    /// The mode's word in the config.
    pub fn mode_label(&self) -> &'static str {
        match self.mode {
            MemoryMode::SlidingWindow => "sliding_window",
            MemoryMode::TokenBudget => "token_budget",
        }
    }
}

/// A running ratio of the tokens a provider reported for a request to the tokens counted for
/// it. Starts at 1 (exact for OpenAI's models).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    ratio: f64,
    samples: u32,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            ratio: 1.0,
            samples: 0,
        }
    }
}

impl Calibration {
    /// Requests smaller than this say little about the ratio (the fixed costs dominate).
    const MIN_ESTIMATE: u64 = 64;
    /// Real tokenizers differ from OpenAI's by tens of percent, not by factors: a report
    /// outside this range is something else (a provider counting only uncached tokens, a
    /// test double) and is ignored.
    const PLAUSIBLE: std::ops::RangeInclusive<f64> = 0.5..=2.0;
    /// How much each new sample moves the ratio.
    const WEIGHT: f64 = 0.3;

    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// A reply came: the provider counted `reported` input tokens for a request counted as
    /// `estimated`.
    pub fn observe(&mut self, estimated: u64, reported: u64) {
        if estimated < Self::MIN_ESTIMATE || reported == 0 {
            return;
        }
        let sample = reported as f64 / estimated as f64;
        if !Self::PLAUSIBLE.contains(&sample) {
            tracing::debug!(estimated, reported, "implausible token report ignored");
            return;
        }
        self.ratio = if self.samples == 0 {
            sample
        } else {
            self.ratio * (1.0 - Self::WEIGHT) + sample * Self::WEIGHT
        };
        self.samples = self.samples.saturating_add(1);
    }

    /// Counted tokens in the model's tokens.
    fn to_model(self, counted: u64) -> u64 {
        (counted as f64 * self.ratio).ceil() as u64
    }

    /// The model's tokens in counted tokens.
    fn to_counted(self, model: u64) -> u64 {
        (model as f64 / self.ratio).floor() as u64
    }
}

/// One message as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub tokens: u64,
    /// The least a cut can bring it down to (`tokens` when it cannot be cut).
    pub floor: u64,
    /// Whether the history may start here.
    pub turn_start: bool,
}

impl Item {
    fn of(counted: &Counted, message: &ChatMessage) -> Self {
        let cuttable = !tokens::main_text(message).is_empty();
        Self {
            tokens: counted.tokens,
            floor: if cuttable {
                (counted.tokens - counted.text + MARKER_TOKENS).min(counted.tokens)
            } else {
                counted.tokens
            },
            turn_start: counted.turn_start,
        }
    }
}

/// How much history one request may carry, in counted tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// At most this many messages (the current turn is kept even when it has more).
    pub messages: Option<usize>,
    /// At most this many tokens of history.
    pub tokens: Option<u64>,
}

/// What to send: the history from `start`, with the messages in `cuts` cut to the tokens
/// given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub start: usize,
    /// (index, tokens to keep), largest message first.
    pub cuts: Vec<(usize, u64)>,
}

/// Chooses where the history starts and what is cut, for `items` whose current turn starts
/// at `current`: the earliest turn start that both limits allow; failing that the current
/// turn alone, its largest messages cut until it fits (or cannot be cut further).
pub fn plan(items: &[Item], current: usize, budget: Budget) -> Plan {
    let n = items.len();
    let current = current.min(n);
    let earliest = match budget.messages {
        Some(max) if n > max => n - max,
        _ => 0,
    };
    let may_start = |i: usize| i == current || i == 0 || items[i].turn_start;
    let Some(limit) = budget.tokens else {
        let start = (earliest..=current)
            .find(|&i| may_start(i))
            .unwrap_or(current);
        return Plan {
            start,
            cuts: Vec::new(),
        };
    };
    let mut suffix: u64 = items[current..].iter().map(|item| item.tokens).sum();
    let current_tokens = suffix;
    // Walk back from the current turn, remembering the earliest start that still fits.
    let mut start = current;
    for i in (earliest..current).rev() {
        suffix = suffix.saturating_add(items[i].tokens);
        if suffix > limit {
            break;
        }
        if may_start(i) {
            start = i;
        }
    }
    let mut cuts = Vec::new();
    if start == current && current_tokens > limit {
        let mut over = current_tokens - limit;
        let mut largest: Vec<usize> = (current..n).collect();
        largest.sort_by_key(|&i| std::cmp::Reverse(items[i].tokens - items[i].floor));
        for i in largest {
            if over == 0 {
                break;
            }
            let reducible = items[i].tokens - items[i].floor;
            let by = reducible.min(over);
            if by > 0 {
                cuts.push((i, items[i].tokens - by));
                over -= by;
            }
        }
    }
    Plan { start, cuts }
}

/// What the agent is about to send.
#[derive(Debug, Clone, Copy)]
pub struct FitRequest<'a> {
    pub system: &'a str,
    pub tools: &'a [ToolSpec],
    /// The whole history, the current turn at its end.
    pub messages: &'a [ChatMessage],
    /// Where the current turn starts in `messages`.
    pub turn_start: usize,
}

/// One message of the current turn that was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutReport {
    /// Its position in the messages sent.
    pub index: usize,
    /// Tokens taken out (model tokens) and characters.
    pub tokens: u64,
    pub chars: u64,
}

/// What fitting did, for the meter and the trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextReport {
    /// The whole request (system prompt, tools, history sent), in the model's tokens.
    pub estimate: u64,
    /// `LLM.max_context_length`.
    pub window: Option<u64>,
    /// The configured mode, as in the config.
    pub mode: &'static str,
    pub kept_messages: usize,
    pub dropped_messages: usize,
    /// Model tokens of the dropped messages.
    pub dropped_tokens: u64,
    pub cuts: Vec<CutReport>,
    /// Whether every count came from the encoder (not the length estimate).
    pub exact: bool,
}

impl ContextReport {
    /// Whether anything was left out.
    pub fn trimmed(&self) -> bool {
        self.dropped_messages > 0 || !self.cuts.is_empty()
    }
}

/// The request's history, fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The first message sent (those before it were dropped).
    pub first_kept: usize,
    /// Cut messages standing in for the originals, by index in the whole history.
    pub replaced: Vec<(usize, ChatMessage)>,
    pub report: ContextReport,
    /// The whole request in counted tokens, to compare with what the provider reports.
    counted: u64,
}

impl Fitted {
    /// The messages to send, from the whole history the fit was made for.
    pub fn messages(&self, all: &[ChatMessage]) -> Vec<ChatMessage> {
        let mut out = all.get(self.first_kept..).unwrap_or_default().to_vec();
        for (index, message) in &self.replaced {
            if let Some(slot) = index
                .checked_sub(self.first_kept)
                .and_then(|at| out.get_mut(at))
            {
                *slot = message.clone();
            }
        }
        out
    }
}

/// The counts one conversation keeps: its messages, and the few system prompts and tool
/// lists it is sent with.
#[derive(Debug, Default)]
struct Counts {
    messages: MessageCounts,
    /// (hash, length) of a system prompt or a tool list's JSON, and its count.
    blobs: Vec<((u64, usize), TokenCount)>,
}

/// How many system prompts and tool lists are remembered (chat, text protocol, planner, …).
const BLOBS: usize = 8;

impl Counts {
    fn blob(&mut self, bytes: &[u8], count: impl FnOnce() -> TokenCount) -> TokenCount {
        let key = (crate::hash::fnv1a(bytes.iter().copied()), bytes.len());
        let exact_now = tokens::ready();
        if let Some((_, known)) = self
            .blobs
            .iter()
            .find(|(k, known)| *k == key && (known.exact || !exact_now))
        {
            return *known;
        }
        let counted = count();
        self.blobs.retain(|(k, _)| *k != key);
        if self.blobs.len() >= BLOBS {
            self.blobs.remove(0);
        }
        self.blobs.push((key, counted));
        counted
    }
}

/// Fits requests to the context; cheap to clone.
#[derive(Debug, Clone)]
pub struct ContextFitter {
    policy: ContextPolicy,
    calibration: Arc<Mutex<Calibration>>,
    counts: Arc<Mutex<Counts>>,
    /// Whether its fits feed the context meter (the conversation's do; a sub-agent's not).
    meter: bool,
}

impl ContextFitter {
    pub fn new(policy: ContextPolicy) -> Self {
        Self {
            policy,
            calibration: Arc::default(),
            counts: Arc::default(),
            meter: true,
        }
    }

    pub fn policy(&self) -> ContextPolicy {
        self.policy
    }

    /// A fitter for a sub-agent's conversation: the same policy and calibration, counts of
    /// its own, and no part in the meter (which shows the user's conversation).
    pub fn for_sub_agent(&self) -> Self {
        Self {
            policy: self.policy,
            calibration: self.calibration.clone(),
            counts: Arc::default(),
            meter: false,
        }
    }

    /// Whether its fits are shown on the context meter.
    pub fn shows_meter(&self) -> bool {
        self.meter
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn calibration(&self) -> Calibration {
        *self
            .calibration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A reply to a fitted request came, with what the provider said it used.
    pub fn observe(&self, fitted: &Fitted, usage: Option<Usage>) {
        if let Some(usage) = usage
            && fitted.report.exact
        {
            self.calibration
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .observe(fitted.counted, usage.input_tokens);
        }
    }

    /// Fits `request`. Counting many new messages (a resumed long session) runs on a
    /// blocking thread; everything else, counts cached, takes well under a millisecond per
    /// thousand messages.
    pub async fn fit(&self, request: FitRequest<'_>) -> Fitted {
        let messages = request.messages;
        let valid = self.counts().messages.valid_prefix(messages);
        let new_bytes: usize = messages[valid..]
            .iter()
            .map(|m| tokens::main_text(m).len())
            .sum();
        if new_bytes > OFFLOAD_BYTES {
            let todo = messages[valid..].to_vec();
            if let Ok(counted) = tokio::task::spawn_blocking(move || counts::count_all(&todo)).await
            {
                self.counts().messages.replace_from(valid, counted);
            }
        }
        self.fit_now(request)
    }

    /// [`ContextFitter::fit`] on this thread, whatever it has to count.
    pub fn fit_now(&self, request: FitRequest<'_>) -> Fitted {
        let FitRequest {
            system,
            tools,
            messages,
            turn_start,
        } = request;
        let calibration = self.calibration();
        let mut counts = self.counts();
        let system_count = counts.blob(system.as_bytes(), || tokens::count(system));
        let tools_count = if tools.is_empty() {
            TokenCount {
                tokens: 0,
                exact: true,
            }
        } else {
            let json = serde_json::to_vec(tools).unwrap_or_default();
            counts.blob(&json, || tokens::tools_tokens(tools))
        };
        counts.messages.sync(messages);
        let counted = counts.messages.counted();
        let items: Vec<Item> = counted
            .iter()
            .zip(messages)
            .map(|(c, m)| Item::of(c, m))
            .collect();
        let prefix = system_count.tokens + tools_count.tokens;
        let budget = self.budget(calibration, prefix);
        let plan = plan(&items, turn_start, budget);

        let mut replaced = Vec::new();
        let mut cut_reports = Vec::new();
        let mut after_cuts: Vec<u64> = counted[plan.start..].iter().map(|c| c.tokens).collect();
        for &(index, keep) in &plan.cuts {
            if let Some((message, size)) = cut::cut_message(&messages[index], &counted[index], keep)
            {
                after_cuts[index - plan.start] = tokens::message_tokens(&message).tokens;
                cut_reports.push(CutReport {
                    index: index - plan.start,
                    tokens: calibration.to_model(size.tokens),
                    chars: size.chars,
                });
                replaced.push((index, message));
            }
        }
        cut_reports.sort_by_key(|cut| cut.index);
        let history: u64 = after_cuts.iter().sum();
        let dropped: u64 = counted[..plan.start].iter().map(|c| c.tokens).sum();
        let exact = system_count.exact && tools_count.exact && counted.iter().all(|c| c.exact);
        let total = prefix + history;
        Fitted {
            first_kept: plan.start,
            replaced,
            report: ContextReport {
                estimate: calibration.to_model(total),
                window: self.policy.window,
                mode: self.policy.mode_label(),
                kept_messages: messages.len() - plan.start,
                dropped_messages: plan.start,
                dropped_tokens: calibration.to_model(dropped),
                cuts: cut_reports,
                exact,
            },
            counted: total,
        }
    }

    /// The history's limits for a request whose system prompt and tools take `prefix`
    /// counted tokens.
    fn budget(&self, calibration: Calibration, prefix: u64) -> Budget {
        let policy = self.policy;
        let configured = (policy.value > 0).then_some(policy.value);
        let (messages, mut tokens) = match policy.mode {
            MemoryMode::SlidingWindow => (
                configured.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                None,
            ),
            MemoryMode::TokenBudget => (None, configured.map(|n| calibration.to_counted(n))),
        };
        if let Some(limit) = policy.request_limit() {
            let room = calibration.to_counted(limit).saturating_sub(prefix);
            tokens = Some(tokens.map_or(room, |t| t.min(room)));
        }
        Budget { messages, tokens }
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
