//! Pane snapshots: every pane drawn into a `TestBackend` at 80×24 and 40×12 (plus the grid at
//! 140×45, the help overlay and the too-small message), compared with reviewed `insta`
//! snapshots. Time-dependent fields are fixed so snapshots are stable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use super::draw;
use crate::protocol::{StepBody, StepId, StepStatus, TraceStep};
use crate::runtime::catalog::Catalog;
use crate::runtime::messages::{ServerIdentity, ServerName, ServerSnapshot, ServerState};
use crate::tui::state::chat::Role;
use crate::tui::state::{AppState, Pane};
use crate::tui::test_support::demo_catalog;
use crate::tui::theme::Theme;

fn demo_snapshot(now: Instant) -> ServerSnapshot {
    let mut s = ServerSnapshot::new(
        ServerName::new("demo"),
        crate::runtime::messages::TransportKind::Stdio,
    );
    s.state = ServerState::Ready;
    s.ready_since = Some(now - Duration::from_secs(75));
    s.protocol_version = Some("2025-11-25".into());
    s.identity = Some(ServerIdentity {
        name: "mcpomni-demo".into(),
        version: "0.1.0".into(),
    });
    s.capabilities = vec!["tools".into(), "resources".into(), "prompts".into()];
    s.tool_count = 3;
    s.resource_count = 2;
    s.prompt_count = 1;
    s.pid = Some(4242);
    s.startup_time = Some(Duration::from_millis(18));
    s
}

fn broken_snapshot() -> ServerSnapshot {
    let mut s = ServerSnapshot::new(
        ServerName::new("broken"),
        crate::runtime::messages::TransportKind::Stdio,
    );
    s.state = ServerState::Failed;
    s.last_error = Some("the process exited with status 3 before answering initialize".into());
    s
}

/// What the broken server wrote to stderr (it streams apart from the snapshot).
fn broken_stderr(state: &mut AppState) {
    state.servers.add_stderr(
        ServerName::new("broken"),
        vec![
            "starting broken server".into(),
            "error: cannot open database".into(),
        ],
        0,
    );
}

fn tools() -> Arc<Catalog> {
    demo_catalog(vec![
        json!({
            "name": "echo",
            "description": "Return the given message unchanged, as text.",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
            "annotations": {"readOnlyHint": true}
        }),
        json!({
            "name": "delete_file",
            "title": "Delete a file",
            "description": "Deletes the file at `path`.",
            "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
            "annotations": {"readOnlyHint": false, "destructiveHint": true}
        }),
        json!({
            "name": "add",
            "description": "Add two numbers.",
            "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}
        }),
    ])
}

fn state(size: (u16, u16), focus: Pane) -> AppState {
    let mut state = AppState::new(
        Theme::default_dark(),
        "servers_config.json".into(),
        None,
        true,
    );
    let now = Instant::now();
    state.now = now;
    state.size = size;
    state.servers.upsert(Arc::new(demo_snapshot(now)));
    state.servers.upsert(Arc::new(broken_snapshot()));
    broken_stderr(&mut state);
    state.tools.set_catalog(tools());
    state.chat.push(Role::User, "What tools do I have?");
    state.focus = focus;
    state.typing = focus == Pane::Chat;
    state
}

pub(super) fn render(state: &AppState) -> Terminal<TestBackend> {
    let (w, h) = state.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|frame| draw(frame, state)).expect("draw");
    terminal
}

/// The screen as snapshots keep it (the version filtered out).
pub(super) fn screen(state: &AppState) -> String {
    crate::tui::test_support::without_version(&render(state).backend().to_string())
}

macro_rules! snapshot_pane {
    ($name:ident, $pane:expr, $size:expr) => {
        #[test]
        fn $name() {
            let state = state($size, $pane);
            insta::assert_snapshot!(screen(&state));
        }
    };
}

snapshot_pane!(chat_80x24, Pane::Chat, (80, 24));
snapshot_pane!(chat_40x12, Pane::Chat, (40, 12));
snapshot_pane!(servers_80x24, Pane::Servers, (80, 24));
snapshot_pane!(servers_40x12, Pane::Servers, (40, 12));
snapshot_pane!(tools_80x24, Pane::Tools, (80, 24));
snapshot_pane!(tools_40x12, Pane::Tools, (40, 12));
snapshot_pane!(trace_80x24, Pane::Trace, (80, 24));
snapshot_pane!(trace_40x12, Pane::Trace, (40, 12));
snapshot_pane!(grid_140x45, Pane::Servers, (140, 45));

#[test]
fn selected_failed_server_shows_its_error_and_stderr() {
    let mut state = state((80, 24), Pane::Servers);
    state.servers.select(1);
    insta::assert_snapshot!(screen(&state));
}

#[test]
fn tools_filter_line() {
    let mut state = state((80, 24), Pane::Tools);
    state.tools.filtering = true;
    state.tools.filter = "de".into();
    state.tools.refilter();
    insta::assert_snapshot!(screen(&state));
}

#[test]
fn help_overlay_80x24() {
    let mut state = state((80, 24), Pane::Servers);
    state.help = true;
    insta::assert_snapshot!(screen(&state));
}

#[test]
fn too_small_terminal_gets_a_message() {
    let state = state((30, 8), Pane::Chat);
    insta::assert_snapshot!(screen(&state));
}

#[test]
fn empty_dashboard_while_servers_start() {
    let mut state = AppState::new(Theme::default_dark(), "bundled config".into(), None, true);
    state.size = (80, 24);
    state.focus = Pane::Tools;
    state.typing = false;
    state.servers.upsert(Arc::new(ServerSnapshot::new(
        ServerName::new("demo"),
        crate::runtime::messages::TransportKind::Stdio,
    )));
    insta::assert_snapshot!(screen(&state));
}

#[test]
fn chat_scrolls_back_through_many_messages() {
    let mut state = state((80, 24), Pane::Chat);
    for i in 0..200 {
        state
            .chat
            .push(Role::Assistant, format!("message number {i}"));
    }
    state.chat.scroll = 30;
    let text = render(&state).backend().to_string();
    assert!(text.contains("↑30 lines"));
    assert!(text.contains("message number 189"), "{text}");
    assert!(!text.contains("message number 199"));
    // Scrolling far past the top stops at the first message.
    state.chat.scroll = usize::MAX / 2;
    let text = render(&state).backend().to_string();
    assert!(text.contains("No LLM is configured"), "{text}");
}

#[test]
fn server_text_with_escape_sequences_is_drawn_clean() {
    // The runtime sanitizes server text; the view must never add raw control characters.
    let mut state = state((80, 24), Pane::Servers);
    state.servers.upsert(Arc::new(broken_snapshot()));
    state.servers.add_stderr(
        ServerName::new("broken"),
        vec![crate::text::sanitize("\u{1b}[31mred alert\u{1b}[0m\u{7}")],
        0,
    );
    state.servers.select(1);
    let text = render(&state).backend().to_string();
    assert!(text.contains("red alert"));
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn server_health_logs_and_reconnect_countdown() {
    let mut state = state((100, 30), Pane::Servers);
    let now = state.now;
    let mut s = demo_snapshot(now);
    s.ping_samples = [3, 2, 4, 8, 3, 2, 2, 5]
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .collect();
    s.calls = 12;
    s.call_errors = 1;
    s.call_p50 = Some(Duration::from_millis(4));
    s.call_p95 = Some(Duration::from_millis(38));
    s.restarts = 2;
    state.servers.add_logs(
        ServerName::new("demo"),
        vec![crate::runtime::messages::LogLine {
            at: std::time::UNIX_EPOCH + Duration::from_secs(45_296),
            level: crate::runtime::messages::LogLevel::Warning,
            logger: Some("db".into()),
            text: "slow query took 2s".into(),
        }],
        0,
    );
    s.subscriptions = vec!["demo://readme".into()];
    state.servers.upsert(Arc::new(s));
    let mut reconnecting = broken_snapshot();
    reconnecting.state = ServerState::Reconnecting;
    reconnecting.retry_at = Some(now + Duration::from_millis(1500));
    reconnecting.last_error = Some("the process was killed by signal 9 (SIGKILL)".into());
    state.servers.upsert(Arc::new(reconnecting));
    insta::assert_snapshot!("server_health", screen(&state));
    state.servers.select(1);
    insta::assert_snapshot!("server_reconnecting", screen(&state));
}

#[test]
fn tool_call_overlays() {
    use crate::runtime::messages::CallId;
    use crate::tui::state::call::Progress;
    let mut state = state((80, 24), Pane::Tools);
    let tool = state.tools.selected_tool().cloned().expect("a tool");
    state.call.edit(&tool);
    insta::assert_snapshot!("call_editor", screen(&state));
    let (id, _, _) = state.call.start(state.now).expect("valid arguments");
    assert_eq!(id, CallId(1));
    state.call.on_progress(
        id,
        Progress {
            progress: 3.0,
            total: Some(5.0),
            message: Some("step 3 of 5".into()),
        },
    );
    insta::assert_snapshot!("call_running", screen(&state));
    let text: String = (1..=500).map(|i| format!("result line {i}\n")).collect();
    let result: rmcp::model::CallToolResult = serde_json::from_value(json!({
        "content": [{"type": "text", "text": text}]
    }))
    .expect("result");
    state
        .call
        .on_finished(id, Ok(result), Duration::from_millis(1234));
    insta::assert_snapshot!("call_result", screen(&state));
    let (target, result) = state.call.result().expect("a result");
    let mut pager =
        crate::tui::state::pager::Pager::new(target.qualified_name.clone(), result.clone());
    pager.scroll = 480;
    state.pager = Some(pager);
    let pager = render(&state).backend().to_string();
    assert!(pager.contains("result line 500"), "{pager}");
    assert!(pager.contains("lines 479–500 of 500"), "{pager}");
}

#[test]
fn a_call_you_cancelled_says_cancelled_not_failed() {
    use crate::tui::state::call::CallView;
    let mut state = state((80, 24), Pane::Tools);
    let tool = state.tools.selected_tool().cloned().expect("a tool");
    let mark_cancelling = |state: &mut AppState| {
        if let Some(CallView::Running { cancelling, .. }) = &mut state.call.view {
            *cancelling = true;
        }
    };
    // Cancelled, and the call ended without a result.
    state.call.edit(&tool);
    let (id, _, _) = state.call.start(state.now).expect("valid arguments");
    mark_cancelling(&mut state);
    let error = "server `demo`: tools/call: cancelled".to_owned();
    state.call.on_finished(id, Err(error), Duration::ZERO);
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("cancelled · you stopped it"), "{screen}");
    assert!(!screen.contains("║failed"), "{screen}");
    assert!(!screen.contains("pager"), "no result, no pager: {screen}");
    // A failure with no cancel is a failure.
    state.call.edit(&tool);
    let (id, _, _) = state.call.start(state.now).expect("valid arguments");
    state
        .call
        .on_finished(id, Err("connection closed".into()), Duration::ZERO);
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("║failed"), "{screen}");
    assert!(!screen.contains("you stopped it"), "{screen}");
    // A result that arrived before the cancel took effect is shown as the result.
    state.call.edit(&tool);
    let (id, _, _) = state.call.start(state.now).expect("valid arguments");
    mark_cancelling(&mut state);
    let result: rmcp::model::CallToolResult =
        serde_json::from_value(json!({"content": [{"type": "text", "text": "made it"}]}))
            .expect("result");
    state.call.on_finished(id, Ok(result), Duration::ZERO);
    let screen = render(&state).backend().to_string();
    assert!(
        screen.contains("ok") && screen.contains("made it"),
        "{screen}"
    );
}

#[test]
fn the_trace_scrolls_to_the_selected_step() {
    let mut state = state((80, 24), Pane::Trace);
    for i in 1..=50 {
        state.trace.upsert(limit_step(
            i,
            None,
            &format!("step title {i}\nsecond line of {i}"),
        ));
    }
    state.trace.select(40);
    let screen = render(&state).backend().to_string();
    assert!(
        screen.contains("▶  41   ✗ limit: step title 41"),
        "{screen}"
    );
    assert!(screen.contains("second line of 41"), "{screen}");
    assert!(
        !screen.contains("step title 1 "),
        "scrolled past the first: {screen}"
    );
    state.trace.select(0);
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("▶   1   ✗ limit: step title 1"), "{screen}");
    assert!(screen.contains("second line of 1"), "{screen}");
}

/// A finished `limit` step (its detail is the reason, its title the reason's first line).
fn limit_step(id: u64, parent: Option<u64>, reason: &str) -> Arc<TraceStep> {
    let mut step = TraceStep::begin(
        StepId(id),
        parent.map(StepId),
        None,
        StepBody::Limit {
            reason: reason.to_owned(),
        },
    );
    step.started_ms = 1_000 * id;
    step.end(StepStatus::Error);
    step.ended_ms = Some(1_000 * id + 5);
    Arc::new(step)
}

#[test]
fn the_trace_shows_a_tree_with_status_marks_and_times() {
    let mut state = state((80, 24), Pane::Trace);
    state.trace.upsert(limit_step(1, None, "root"));
    state.trace.upsert(limit_step(2, Some(1), "child"));
    state.trace.upsert(limit_step(3, Some(2), "grandchild"));
    state.trace.upsert(limit_step(4, None, "next root"));
    state.trace.select(0);
    insta::assert_snapshot!("trace_tree", screen(&state));
}

pub(super) fn agent_state() -> AppState {
    let mut state = AppState::new(
        Theme::default_dark(),
        "servers_config.json".into(),
        Some("openai/gpt-4o-mini".into()),
        true,
    );
    state.now = Instant::now();
    state.size = (80, 24);
    state.servers.upsert(Arc::new(demo_snapshot(state.now)));
    state.tools.set_catalog(tools());
    state
}

#[test]
fn approval_prompt_editor_and_usage_in_the_status_bar() {
    use crate::protocol::{
        AgentEvent, ApprovalId, ProposedCall, ToolCallId, TurnId, TurnOutcome, UsageTotals,
    };
    use crate::tui::state::Msg;
    use crate::tui::test_support::update;
    let mut state = agent_state();
    state.chat.push(Role::User, "Clean up /tmp/build please.");
    let turn = TurnId(1);
    state.agent.running = Some(turn);
    update(
        &mut state,
        Msg::Agent(AgentEvent::AssistantDelta {
            turn,
            text: "I will delete the build directory.".into(),
        }),
    );
    let call = ProposedCall {
        id: ToolCallId(1),
        server: ServerName::new("demo"),
        tool: "delete_file".into(),
        qualified_name: "demo__delete_file".into(),
        arguments: json!({"path": "/tmp/build", "recursive": true}),
        title: Some("Delete a file".into()),
        read_only: Some(false),
        destructive: Some(true),
        input_schema: Arc::default(),
    };
    for approval in 1..=2 {
        update(
            &mut state,
            Msg::Agent(AgentEvent::ApprovalRequested {
                turn,
                approval: ApprovalId(approval),
                call: call.clone(),
                index: usize::try_from(approval - 1).expect("small"),
                total: 2,
            }),
        );
    }
    insta::assert_snapshot!("approval_prompt", screen(&state));
    crate::tui::state::conversation::open_approval_editor(&mut state);
    insta::assert_snapshot!("approval_editor", screen(&state));
    crate::tui::state::conversation::close_editor(&mut state);
    state.agent.approvals.clear();
    let usage = UsageTotals {
        requests: 4,
        input_tokens: 12_400,
        output_tokens: 800,
        cost: Some(0.0031),
    };
    update(
        &mut state,
        Msg::Agent(AgentEvent::TurnFinished {
            turn,
            outcome: TurnOutcome::Answered,
            turn_usage: usage,
            session_usage: usage,
        }),
    );
    // At 80 columns only where the conversation is saved and the mode (always shown) fit
    // beside the typing hints; at 140 all of it, the session kept beside the mode.
    let narrow = render(&state).backend().to_string();
    assert!(
        narrow.contains("Ctrl-C quit   not saved · chat mode"),
        "{narrow}"
    );
    state.agent.session = Some("20261207-101500-4242".into());
    let narrow = render(&state).backend().to_string();
    assert!(
        narrow.contains("Ctrl-C quit   1/1 ready · chat mode"),
        "the session gives way to the hints at 80 columns: {narrow}"
    );
    state.size = (140, 30);
    let screen = render(&state).backend().to_string();
    assert!(
        screen.contains(
            "1/1 ready · 13.2k tok $0.0031 · 3 tools · session 20261207-101500-4242 · chat mode"
        ),
        "{screen}"
    );
}

#[test]
fn sampling_prompt() {
    use crate::protocol::{AgentEvent, SamplingId};
    use crate::tui::state::Msg;
    use crate::tui::test_support::update;
    let mut state = agent_state();
    #[allow(deprecated)]
    let params: rmcp::model::CreateMessageRequestParams = serde_json::from_value(json!({
        "messages": [
            {"role": "user", "content": {"type": "text", "text": "Summarise the release notes.\nKeep it short."}},
        ],
        "systemPrompt": "You are a helpful test server.",
        "maxTokens": 100,
        "temperature": 0.7,
        "modelPreferences": {"hints": [{"name": "claude-3-sonnet"}]}
    }))
    .expect("params");
    update(
        &mut state,
        Msg::Agent(AgentEvent::SamplingRequested {
            id: SamplingId(1),
            server: ServerName::new("everything"),
            params: Box::new(params),
        }),
    );
    insta::assert_snapshot!("sampling_prompt", screen(&state));
}

#[test]
fn the_servers_list_scrolls_to_the_selection_and_says_what_is_hidden() {
    let mut state = state((140, 45), Pane::Servers);
    state.servers = Default::default();
    for i in 1..=12 {
        let name = if i == 12 {
            "a-server-with-a-very-long-name-that-cannot-fit-in-the-column-at-all".to_owned()
        } else {
            format!("server{i:02}")
        };
        let mut s = ServerSnapshot::new(
            ServerName::new(&name),
            crate::runtime::messages::TransportKind::Stdio,
        );
        s.state = ServerState::Ready;
        state.servers.upsert(Arc::new(s));
    }
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("server01"), "{screen}");
    assert!(
        screen.contains("Server ↓"),
        "more rows below are announced: {screen}"
    );
    state.servers.select(11);
    let screen = render(&state).backend().to_string();
    assert!(
        screen.contains("a-server-with-a-very-long-name"),
        "the selected last row is on screen: {screen}"
    );
    assert!(
        screen.contains("…"),
        "the long name is cut with an ellipsis: {screen}"
    );
    assert!(
        screen.contains("Server ↑"),
        "rows above are announced: {screen}"
    );
    assert!(!screen.contains("server01 "), "{screen}");
}

#[test]
fn a_disabled_server_reads_disabled_not_as_an_error() {
    let mut state = state((100, 30), Pane::Servers);
    let mut off = ServerSnapshot::new(
        ServerName::new("off"),
        crate::runtime::messages::TransportKind::Stdio,
    );
    off.state = ServerState::Stopped;
    off.enabled = false;
    off.last_error = Some("disabled".into());
    off.first_attempt_done = true;
    state.servers.upsert(Arc::new(off));
    state.servers.select(2);
    let text = render(&state).backend().to_string();
    assert!(text.contains("disabled"), "{text}");
    assert!(!text.contains("error: disabled"), "{text}");
    // A failed server still reads as an error.
    state.servers.select(1);
    let text = render(&state).backend().to_string();
    assert!(
        text.contains("error: the process exited with status 3"),
        "{text}"
    );
}

#[test]
fn late_progress_and_lost_lines_show_in_the_details() {
    let mut state = state((100, 30), Pane::Servers);
    let mut s = demo_snapshot(state.now);
    s.dropped_progress = 3;
    state.servers.upsert(Arc::new(s));
    state
        .servers
        .add_stderr(ServerName::new("demo"), vec!["warming up".into()], 5);
    let text = render(&state).backend().to_string();
    assert!(
        text.contains("dropped 3 progress notifications (they arrived after their call had"),
        "{text}"
    );
    assert!(text.contains("dropped 0 log and 5 stderr lines"), "{text}");
    assert!(text.contains("warming up"), "{text}");
}

/// One screen in each bundled theme, with its colours: a change of colour is a visible diff.
#[test]
fn every_theme_has_a_styled_snapshot() {
    for name in ["dark", "light", "high-contrast"] {
        let mut state = state((80, 24), Pane::Servers);
        state.theme = Theme::bundled(name).expect("a bundled theme");
        let terminal = render(&state);
        insta::assert_snapshot!(
            format!("styled_{}", name.replace('-', "_")),
            crate::tui::test_support::styled(terminal.backend().buffer())
        );
    }
}

#[test]
fn with_an_llm_each_server_says_what_its_tool_schemas_cost_per_request() {
    let mut state = state((140, 45), Pane::Servers);
    state.typing = false;
    let shown = screen(&state);
    assert!(
        !shown.contains("schemas:"),
        "no model, nothing to say: {shown}"
    );
    state.agent.available = true;
    let count = state
        .tools
        .schema_tokens
        .get(&crate::runtime::messages::ServerName::new("demo"))
        .copied()
        .expect("demo's tools are counted");
    // Three small tools: names, descriptions and schemas, a few tokens each and more.
    assert!((30..400).contains(&count.tokens), "{count:?}");
    let shown = screen(&state);
    let approx = if count.exact { "" } else { "~" };
    assert!(
        shown.contains(&format!(
            "schemas: {approx}{} tokens in every request to the model",
            count.tokens
        )),
        "{shown}"
    );
}

/// A server that wants a sign-in says how (`a`) and, once one is under way, shows the whole
/// authorization URL (wrapped, never cut) with how to copy it; a failed sign-in says why.
#[test]
fn a_needs_auth_server_shows_how_to_sign_in_and_the_whole_url() {
    use crate::runtime::messages::SignInStatus;
    let mut state = state((80, 24), Pane::Servers);
    let mut remote = ServerSnapshot::new(
        ServerName::new("remote"),
        crate::runtime::messages::TransportKind::StreamableHttp,
    );
    remote.state = ServerState::NeedsAuth;
    remote.last_error =
        Some("the server requires authorization (HTTP 401): Bearer (error invalid_token)".into());
    remote.first_attempt_done = true;
    state.servers.upsert(Arc::new(remote));
    state.servers.select(2);
    let before = screen(&state);
    assert!(
        before.contains("a opens the browser to authorize mcpomni"),
        "{before}"
    );
    assert!(before.contains(" a sign in · y copy its URL "), "{before}");
    let url = "https://auth.example.com/authorize?response_type=code&client_id=mcpomni&state=abc&code_challenge=xyz&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A41234%2Fcallback";
    state.servers.sign_ins.insert(
        ServerName::new("remote"),
        SignInStatus::Open { url: url.into() },
    );
    insta::assert_snapshot!(screen(&state));
    let joined: String = screen(&state)
        .lines()
        .map(|line| line.trim_matches(|c| c == '"' || c == '┃' || c == ' '))
        .collect();
    assert!(joined.contains("callback"), "the URL's end is on screen");
    state.servers.sign_ins.insert(
        ServerName::new("remote"),
        SignInStatus::Failed("server `remote`: authorization: access_denied".into()),
    );
    let failed = screen(&state);
    assert!(failed.contains("sign-in failed:"), "{failed}");
    assert!(failed.contains("a tries again"), "{failed}");
}
