//! Frame cost of the heaviest panes at 140×45: the Tools pane with 1,000 tools, the Chat
//! pane with 10,000 messages and the Trace pane with 5,000 steps. Target: under 2 ms each (see
//! the README's performance notes). Run with `cargo bench --bench render`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use mcpomni::llm::{ChatMessage, ChatRequest, ToolCall};
use mcpomni::protocol::{
    ApprovedBy, CallOutcome, StepBody, StepId, StepStatus, ToolCallId, TraceStep, TurnId,
};
use mcpomni::runtime::catalog::{Catalog, ServerListing};
use mcpomni::runtime::messages::ServerName;
use mcpomni::tui::state::chat::Role;
use mcpomni::tui::state::{AppState, Pane};
use mcpomni::tui::theme::Theme;
use mcpomni::tui::view::draw;

const SIZE: (u16, u16) = (140, 45);

fn catalog(tools: usize) -> Arc<Catalog> {
    let listings: Vec<_> = (0..10)
        .map(|server| {
            let tools = (0..tools / 10)
                .map(|i| {
                    serde_json::from_value(json!({
                        "name": format!("tool_{i}"),
                        "description": format!("Tool {i} of server {server}: does something useful with its inputs and returns a result."),
                        "inputSchema": {
                            "type": "object",
                            "properties": {
                                "path": {"type": "string", "description": "A path"},
                                "count": {"type": "integer", "minimum": 0}
                            },
                            "required": ["path"]
                        },
                        "annotations": {"readOnlyHint": i % 2 == 0}
                    }))
                    .expect("tool")
                })
                .collect();
            (
                ServerName::new(&format!("server{server}")),
                Arc::new(ServerListing {
                    tools,
                    ..ServerListing::default()
                }),
            )
        })
        .collect();
    Arc::new(Catalog::build(1, &listings))
}

fn state(focus: Pane) -> AppState {
    let mut state = AppState::new(Theme::default_dark(), "bench".into(), None, true);
    state.size = SIZE;
    state.focus = focus;
    state.typing = focus == Pane::Chat;
    state
}

fn bench_tools(c: &mut Criterion) {
    let mut state = state(Pane::Tools);
    state.tools.set_catalog(catalog(1_000));
    state.tools.select(500);
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
    c.bench_function("tools pane, 1000 tools, 140x45", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| draw(frame, black_box(&state)))
                .expect("draw");
        })
    });
}

fn bench_chat(c: &mut Criterion) {
    let mut state = state(Pane::Chat);
    for i in 0..10_000 {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        state.chat.push(
            role,
            format!(
                "Message {i}: the quick brown fox jumps over the lazy dog, and then the dog \
                 wakes up and writes a long reply that wraps over more than one line of the \
                 chat pane so wrapping is exercised."
            ),
        );
    }
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
    c.bench_function("chat pane, 10000 messages, 140x45", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| draw(frame, black_box(&state)))
                .expect("draw");
        })
    });
    state.chat.scroll = 5_000;
    c.bench_function("chat pane, 10000 messages, scrolled 5000 lines up", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| draw(frame, black_box(&state)))
                .expect("draw");
        })
    });
}

/// 5,000 steps: 500 turns, each a request, a reply, three tool calls with their results.
/// `turns` turns of 10 steps each.
fn trace_steps(turns: u64) -> Vec<Arc<TraceStep>> {
    let mut steps = Vec::new();
    let mut next = 0;
    let mut add = |parent: Option<StepId>, turn: u64, body: StepBody| {
        next += 1;
        let mut step = TraceStep::begin(StepId(next), parent, Some(TurnId(turn)), body);
        step.end(StepStatus::Ok);
        let id = step.id;
        steps.push(Arc::new(step));
        id
    };
    let request = Arc::new(ChatRequest {
        messages: vec![ChatMessage::user("what changed in the release?")],
        ..ChatRequest::default()
    });
    for turn in 1..=turns {
        let root = add(
            None,
            turn,
            StepBody::Turn {
                user_text: format!("question {turn}"),
                mode: mcpomni::protocol::AgentMode::Chat,
                outcome: None,
            },
        );
        let asked = add(
            Some(root),
            turn,
            StepBody::ModelRequest {
                model: "openai/gpt-4o".into(),
                request: request.clone(),
            },
        );
        let reply = add(
            Some(asked),
            turn,
            StepBody::ModelReply {
                text: "Let me look that up with three tools.".into(),
                reasoning: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "docs__search".into(),
                    arguments: json!({"query": "release notes"}),
                }],
                stop_reason: Some("tool_calls".into()),
                first_token_ms: Some(120),
                error: None,
            },
        );
        for call in 0..3 {
            let id = ToolCallId(turn * 3 + call);
            let step = add(
                Some(reply),
                turn,
                StepBody::ToolCall {
                    call: id,
                    server: "docs".into(),
                    tool: "search".into(),
                    qualified_name: "docs__search".into(),
                    arguments: json!({"query": "release notes", "page": call}),
                    approved_by: Some(ApprovedBy::User),
                    model_arguments: None,
                },
            );
            add(
                Some(step),
                turn,
                StepBody::ToolResult {
                    call: id,
                    outcome: CallOutcome::Ok {
                        summary: "12 results".into(),
                    },
                    content: "line one of the result\nline two\nline three".into(),
                    structured: None,
                },
            );
        }
        add(
            Some(root),
            turn,
            StepBody::Limit {
                reason: "a step that closes the turn".into(),
            },
        );
    }
    steps
}

fn bench_trace(c: &mut Criterion) {
    for steps_wanted in [5_000, 10_000] {
        let mut state = state(Pane::Trace);
        let steps = trace_steps(steps_wanted / 10);
        assert_eq!(steps.len(), usize::try_from(steps_wanted).expect("small"));
        for step in steps {
            state.trace.upsert(step);
        }
        state.trace.select(state.trace.len() / 2);
        let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
        c.bench_function(&format!("trace pane, {steps_wanted} steps, 140x45"), |b| {
            b.iter(|| {
                terminal
                    .draw(|frame| draw(frame, black_box(&state)))
                    .expect("draw");
            })
        });
    }
}

criterion_group!(benches, bench_tools, bench_chat, bench_trace);
criterion_main!(benches);
