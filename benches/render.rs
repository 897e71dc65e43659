//! Frame cost of the heaviest panes at 140×45: the Tools pane with 1,000 tools and the Chat
//! pane with 10,000 messages. Target: under 2 ms each (see the README's performance notes).
//! Run with `cargo bench --bench render`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

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

criterion_group!(benches, bench_tools, bench_chat);
criterion_main!(benches);
