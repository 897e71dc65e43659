//! The demo server's tools: `echo`, `add`, `count_with_progress`, `fail`,
//! `sleep` and `lorem`.
//!
//! Argument problems the user can fix (an out-of-range number) come back as
//! tool results with `isError: true`, not JSON-RPC errors, because MCP clients
//! show the former to the user and usually hide the latter.

use std::{
    ops::RangeInclusive,
    time::{Duration, Instant},
};

use rmcp::{
    RoleServer,
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock, ProgressNotificationParam},
    schemars::{self, JsonSchema},
    service::RequestContext,
    tool, tool_router,
};
use serde::{Deserialize, Serialize};

use super::DemoServer;

pub(super) const STEPS_MIN: i64 = 1;
pub(super) const STEPS_MAX: i64 = 100;
const STEPS_DEFAULT: i64 = 5;
const DELAY_MIN_MS: i64 = 0;
pub(super) const DELAY_MAX_MS: i64 = 10_000;
const DELAY_DEFAULT_MS: i64 = 100;
const SLEEP_MIN_MS: i64 = 0;
pub(super) const SLEEP_MAX_MS: i64 = 600_000;
const LOREM_MIN_BYTES: i64 = 1;
pub(super) const LOREM_MAX_BYTES: i64 = 50_000_000;

/// Repeated (and cut) to build `lorem` results. Plain ASCII with nothing JSON
/// has to escape, so the text's byte length is exactly what was asked for.
const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
     tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
     exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor \
     in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur \
     sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est \
     laborum. ";

// Byte-slicing `LOREM` anywhere is only sound because every char is one byte.
const _: () = assert!(LOREM.is_ascii());

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct EchoParams {
    /// The text to send back.
    message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct AddParams {
    /// The first addend.
    a: f64,
    /// The second addend.
    b: f64,
}

/// Structured result of `add`; also the source of its output schema.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct AddOutput {
    /// The sum a + b.
    sum: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct CountParams {
    /// How many steps to count (1 to 100, default 5).
    #[serde(default = "default_steps")]
    #[schemars(range(min = STEPS_MIN, max = STEPS_MAX))]
    steps: i64,
    /// Milliseconds to wait before each step (0 to 10000, default 100).
    #[serde(default = "default_delay_ms")]
    #[schemars(range(min = DELAY_MIN_MS, max = DELAY_MAX_MS))]
    delay_ms: i64,
}

fn default_steps() -> i64 {
    STEPS_DEFAULT
}

fn default_delay_ms() -> i64 {
    DELAY_DEFAULT_MS
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct FailParams {
    /// Why the call should fail; it is included in the error text.
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SleepParams {
    /// How long to sleep, in milliseconds (0 to 600000).
    #[schemars(range(min = SLEEP_MIN_MS, max = SLEEP_MAX_MS))]
    ms: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct LoremParams {
    /// Exact size of the returned text, in bytes (1 to 50000000).
    #[schemars(range(min = LOREM_MIN_BYTES, max = LOREM_MAX_BYTES))]
    bytes: i64,
}

/// Why a wait ended before its time.
enum Interrupted {
    /// The client sent `notifications/cancelled` for the request.
    Cancelled,
    /// The input stream closed: the client is gone and the server is exiting.
    Disconnected,
}

impl Interrupted {
    fn describe(&self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled by the client",
            Self::Disconnected => "stopped because the client disconnected",
        }
    }
}

#[tool_router(vis = "pub(super)")]
impl DemoServer {
    #[tool(
        title = "Echo",
        description = "Return the given message unchanged, as text.",
        annotations(
            title = "Echo",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    fn echo(&self, Parameters(EchoParams { message }): Parameters<EchoParams>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(message)])
    }

    #[tool(
        title = "Add",
        description = "Add two numbers. Returns the text \"a + b = sum\" and the structured \
                       result {\"sum\": number}.",
        output_schema = rmcp::handler::server::tool::schema_for_output::<AddOutput>(),
        annotations(
            title = "Add",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    fn add(&self, Parameters(AddParams { a, b }): Parameters<AddParams>) -> CallToolResult {
        let sum = a + b;
        // JSON has no infinities: serde_json would turn one into `null`, which
        // breaks the advertised output schema.
        if !sum.is_finite() {
            return tool_error(format!("{a} + {b} does not fit in a 64-bit float"));
        }
        let structured = match serde_json::to_value(AddOutput { sum }) {
            Ok(value) => value,
            Err(error) => return tool_error(format!("failed to encode the sum: {error}")),
        };
        let mut result =
            CallToolResult::success(vec![ContentBlock::text(format!("{a} + {b} = {sum}"))]);
        result.structured_content = Some(structured);
        result
    }

    #[tool(
        title = "Count with progress",
        description = "Count from 1 to `steps`, waiting `delay_ms` before each step. When the \
                       request carries a progress token, a progress notification (progress = \
                       step, total = steps, message \"step i of n\") is sent for every step. \
                       Returns \"counted to N\". Stops early when cancelled.",
        annotations(
            title = "Count with progress",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn count_with_progress(
        &self,
        Parameters(CountParams { steps, delay_ms }): Parameters<CountParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (steps, delay_ms) = match (
            check_range::<u32>("steps", steps, STEPS_MIN..=STEPS_MAX),
            check_range::<u64>("delay_ms", delay_ms, DELAY_MIN_MS..=DELAY_MAX_MS),
        ) {
            (Ok(steps), Ok(delay_ms)) => (steps, delay_ms),
            (Err(message), _) | (_, Err(message)) => return tool_error(message),
        };
        let progress_token = context.meta.get_progress_token();
        let delay = Duration::from_millis(delay_ms);
        for step in 1..=steps {
            if let Err(interrupted) = self.pause(&context, delay).await {
                return tool_error(format!(
                    "count {} at step {step} of {steps}",
                    interrupted.describe()
                ));
            }
            if let Some(token) = &progress_token {
                let notification = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(steps))
                    .with_message(format!("step {step} of {steps}"));
                // Progress is advisory: a failed send (typically because the
                // client just went away) must not fail the count itself.
                if let Err(error) = context.peer.notify_progress(notification).await {
                    tracing::debug!(%error, step, "could not send a progress notification");
                }
            }
        }
        CallToolResult::success(vec![ContentBlock::text(format!("counted to {steps}"))])
    }

    #[tool(
        title = "Fail",
        description = "Always fail: returns a tool result with isError set and the text \"demo \
                       tool failed on purpose: <reason>\", for testing how clients show tool \
                       errors.",
        annotations(
            title = "Fail",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    fn fail(&self, Parameters(FailParams { reason }): Parameters<FailParams>) -> CallToolResult {
        let reason = reason
            .as_deref()
            .map(str::trim)
            .filter(|reason| !reason.is_empty())
            .unwrap_or("no reason given");
        tool_error(format!("demo tool failed on purpose: {reason}"))
    }

    #[tool(
        title = "Sleep",
        description = "Wait `ms` milliseconds, then return \"slept N ms\". Stops as soon as the \
                       request is cancelled; useful for testing timeouts and cancellation.",
        annotations(
            title = "Sleep",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn sleep(
        &self,
        Parameters(SleepParams { ms }): Parameters<SleepParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let ms = match check_range::<u64>("ms", ms, SLEEP_MIN_MS..=SLEEP_MAX_MS) {
            Ok(ms) => ms,
            Err(message) => return tool_error(message),
        };
        let started = Instant::now();
        match self.pause(&context, Duration::from_millis(ms)).await {
            Ok(()) => CallToolResult::success(vec![ContentBlock::text(format!("slept {ms} ms"))]),
            // rmcp drops the response to a cancelled request, so this text is
            // only seen in logs; what matters is that the task ends now.
            Err(interrupted) => tool_error(format!(
                "sleep {} after {} ms",
                interrupted.describe(),
                started.elapsed().as_millis()
            )),
        }
    }

    #[tool(
        title = "Lorem ipsum",
        description = "Return exactly `bytes` bytes of ASCII lorem-ipsum text (up to 50000000); \
                       useful for testing how clients handle large results.",
        annotations(
            title = "Lorem ipsum",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    fn lorem(&self, Parameters(LoremParams { bytes }): Parameters<LoremParams>) -> CallToolResult {
        match check_range::<usize>("bytes", bytes, LOREM_MIN_BYTES..=LOREM_MAX_BYTES) {
            Ok(bytes) => CallToolResult::success(vec![ContentBlock::text(lorem_text(bytes))]),
            Err(message) => tool_error(message),
        }
    }
}

impl DemoServer {
    /// Wait for `duration`, ending early if the request is cancelled or the
    /// client disconnects.
    ///
    /// rmcp does not drop a handler's future on `notifications/cancelled`; it
    /// only cancels the request's token and discards the eventual response. A
    /// tool that waits must therefore watch the token itself, or it keeps
    /// running (and delays shutdown) long after the client gave up.
    async fn pause(
        &self,
        context: &RequestContext<RoleServer>,
        duration: Duration,
    ) -> Result<(), Interrupted> {
        if duration.is_zero() {
            // Still notice a cancellation that arrived between steps.
            return if context.ct.is_cancelled() {
                Err(Interrupted::Cancelled)
            } else {
                Ok(())
            };
        }
        let _counted = Pausing::enter(&self.pausing);
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = context.ct.cancelled() => Err(Interrupted::Cancelled),
            () = self.shutdown.wait() => Err(Interrupted::Disconnected),
        }
    }
}

/// Counts a call as waiting in `pause` for as long as it lives.
struct Pausing<'a>(&'a tokio::sync::watch::Sender<usize>);

impl<'a> Pausing<'a> {
    fn enter(count: &'a tokio::sync::watch::Sender<usize>) -> Self {
        count.send_modify(|n| *n += 1);
        Self(count)
    }
}

impl Drop for Pausing<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A failed tool result (`isError: true`) carrying `message` as its text.
fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// `value` converted to the unsigned type the tool works with, or an error
/// message naming `name` when it lies outside `range`.
fn check_range<T: TryFrom<i64>>(
    name: &str,
    value: i64,
    range: RangeInclusive<i64>,
) -> Result<T, String> {
    if !range.contains(&value) {
        return Err(format!(
            "{name} must be between {} and {} (got {value})",
            range.start(),
            range.end()
        ));
    }
    // Every range used here is non-negative and small, so this succeeds; the
    // fallback keeps the function total without a panic path.
    T::try_from(value).map_err(|_| format!("{name} = {value} is too large for this platform"))
}

/// Exactly `len` bytes of lorem-ipsum text.
pub(super) fn lorem_text(len: usize) -> String {
    let mut text = String::with_capacity(len);
    while text.len() + LOREM.len() <= len {
        text.push_str(LOREM);
    }
    // `LOREM` is ASCII (checked at compile time), so any byte index is a char
    // boundary and this slice cannot panic.
    text.push_str(&LOREM[..len - text.len()]);
    text
}
