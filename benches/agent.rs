//! What the agent loop itself costs (`cargo bench --bench agent`): one turn in auto mode in
//! which the model asks for one tool call (`demo__echo` on the demo server) and then answers,
//! against a loopback mock LLM with no artificial delay — side by side with the same work done
//! by hand: the two model requests streamed to their end and the tool called directly. The
//! difference is what the loop adds (tool specs from the catalog, the approval policy, history,
//! usage, events), interleaved in rounds so machine noise hits both alike.
//!
//! Set `MCPOMNI_BIN` to measure another build of the binary (the demo server is this binary).

mod common;
#[path = "../tests/support/llm_mock.rs"]
mod llm_mock;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{median, ms};
use futures::StreamExt;
use llm_mock::{MockCall, MockLlm, Reply};
use mcpomni::agent::AgentSettings;
use mcpomni::agent::headless::{ApproveAll, run_once};
use mcpomni::agent::turn::tool_specs;
use mcpomni::config::Config;
use mcpomni::llm::{ChatMessage, ChatRequest, LlmProvider, StreamEvent, ToolCall};
use mcpomni::protocol::{AgentMode, TurnOutcome};
use mcpomni::runtime::{self, RuntimeHandle, RuntimeOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const ROUNDS: usize = 10;
const TURNS_PER_ROUND: usize = 30;

fn config(mock: &MockLlm) -> Config {
    support::config(json!({
        "mcpServers": {"demo": support::demo()},
        "LLM": {"provider": "openai", "model": "gpt-4o-mini",
                "base_url": format!("{}/v1", mock.base_url())},
    }))
}

fn script(mock: &MockLlm) {
    mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "c1",
            "demo__echo",
            &[r#"{"message": "hello"}"#],
        )],
        (10, 5),
    ));
    mock.push(Reply::text(&["The echo said hello."], (20, 4)));
}

async fn finish(provider: &dyn LlmProvider, request: ChatRequest) -> Vec<ToolCall> {
    let mut stream = provider.stream(request);
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Finished { tool_calls, .. }) => return tool_calls,
            Ok(_) => {}
            Err(error) => panic!("mock LLM: {error}"),
        }
    }
    panic!("the stream ended without Finished")
}

/// The turn's work without the agent: two requests and one direct tool call.
async fn by_hand(provider: &dyn LlmProvider, handle: &RuntimeHandle) {
    let tools = tool_specs(&handle.catalog());
    let mut messages = vec![ChatMessage::user("echo hello")];
    let calls = finish(
        provider,
        ChatRequest {
            messages: messages.clone(),
            tools: tools.clone(),
            ..ChatRequest::default()
        },
    )
    .await;
    let call = &calls[0];
    let arguments = match &call.arguments {
        serde_json::Value::Object(map) => map.clone(),
        other => panic!("arguments: {other}"),
    };
    let result = match handle.call_tool("demo", "echo", arguments, None).await {
        Ok(result) => result,
        Err(error) => panic!("echo: {error}"),
    };
    messages.push(ChatMessage::Assistant {
        text: String::new(),
        tool_calls: calls.clone(),
        provider_state: None,
    });
    messages.push(ChatMessage::ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: mcpomni::runtime::content::blocks_text(&result.content),
        is_error: false,
    });
    finish(
        provider,
        ChatRequest {
            messages,
            tools,
            ..ChatRequest::default()
        },
    )
    .await;
}

async fn through_the_agent(
    settings: &AgentSettings,
    provider: &Arc<dyn LlmProvider>,
    handle: &RuntimeHandle,
) {
    // Nobody reads the events: a closed channel drops them, as in `mcpomni run --json`.
    let (events, _) = tokio::sync::mpsc::channel(1);
    let (record, _) = run_once(
        settings,
        provider.clone(),
        handle.clone(),
        "echo hello".into(),
        AgentMode::Auto,
        ApproveAll::All,
        None,
        events,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(record.outcome, TurnOutcome::Answered);
    assert_eq!(record.calls.len(), 1);
}

/// The mock LLM (no delay between chunks), the demo server started and settled, and the agent
/// settings: what every section measures against.
struct Rig {
    mock: MockLlm,
    config: Config,
    provider: Arc<dyn LlmProvider>,
    handle: RuntimeHandle,
    settings: AgentSettings,
}

async fn rig() -> Rig {
    let mock = MockLlm::start().await;
    mock.set_chunk_delay(Duration::ZERO);
    let config = config(&mock);
    let llm = config.llm.as_ref().expect("LLM block");
    let provider = match mcpomni::llm::build_provider(llm, &|_| Some("sk-bench".into())) {
        Ok(provider) => provider,
        Err(error) => panic!("provider: {error}"),
    };
    let (handle, _events) = match runtime::start(&config, RuntimeOptions::default()) {
        Ok(started) => started,
        Err(error) => panic!("start: {error}"),
    };
    handle.wait_settled().await;
    let settings = AgentSettings::from_config(&config);
    Rig {
        mock,
        config,
        provider,
        handle,
        settings,
    }
}

async fn agent_turn() {
    let Rig {
        mock,
        config: _,
        provider,
        handle,
        settings,
    } = rig().await;
    // Warm up both paths.
    for _ in 0..5 {
        script(&mock);
        by_hand(&*provider, &handle).await;
        script(&mock);
        through_the_agent(&settings, &provider, &handle).await;
    }
    let (mut hand, mut agent) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for _ in 0..TURNS_PER_ROUND {
            script(&mock);
            let start = Instant::now();
            by_hand(&*provider, &handle).await;
            hand.push(start.elapsed());
            script(&mock);
            let start = Instant::now();
            through_the_agent(&settings, &provider, &handle).await;
            agent.push(start.elapsed());
        }
    }
    let (hand, agent) = (median(&mut hand), median(&mut agent));
    println!("agent turn: 2 model requests + 1 tool call, mock LLM on loopback, demo server");
    println!("  by hand       : median {}", ms(hand));
    println!(
        "  via the agent : median {}  (+{} = {:+.1}%)",
        ms(agent),
        ms(agent.saturating_sub(hand)),
        (agent.as_secs_f64() / hand.as_secs_f64() - 1.0) * 100.0
    );
    handle.shutdown().await;
}

/// A plan with `tasks` sub-agents, each calling `demo__sleep` for 500 ms, then a report.
fn script_orchestration(mock: &MockLlm, tasks: usize) {
    let plan = json!({"phases": [{"name": "wait", "tasks": (0..tasks)
        .map(|i| json!({"goal": format!("wait {i}"), "tools": ["demo__sleep"]}))
        .collect::<Vec<_>>()}]});
    mock.push(Reply::text(&[&plan.to_string()], (10, 5)));
    for i in 0..tasks {
        mock.push(Reply::tool_calls(
            vec![MockCall::new(
                &format!("s{i}"),
                "demo__sleep",
                &[r#"{"ms": 500}"#],
            )],
            (10, 5),
        ));
    }
    for _ in 0..tasks {
        mock.push(Reply::text(&["waited"], (10, 2)));
    }
    mock.push(Reply::text(&["All waited."], (10, 2)));
}

async fn orchestrated(
    settings: &AgentSettings,
    provider: &Arc<dyn LlmProvider>,
    handle: &RuntimeHandle,
) -> Duration {
    let (events, _) = tokio::sync::mpsc::channel(1);
    let start = Instant::now();
    let (record, _) = run_once(
        settings,
        provider.clone(),
        handle.clone(),
        "wait".into(),
        AgentMode::Orchestrator,
        ApproveAll::All,
        None,
        events,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(record.outcome, TurnOutcome::Answered);
    start.elapsed()
}

/// Three parallel sub-agents with 500 ms tools against one: the orchestrator's overhead and
/// whether the three really overlap (target ≤ 1.2 × one).
async fn parallel_sub_agents() {
    let Rig {
        mock,
        config: _,
        provider,
        handle,
        settings,
    } = rig().await;
    let (mut one, mut three) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        script_orchestration(&mock, 1);
        one.push(orchestrated(&settings, &provider, &handle).await);
        script_orchestration(&mock, 3);
        three.push(orchestrated(&settings, &provider, &handle).await);
    }
    let (one, three) = (median(&mut one), median(&mut three));
    println!("orchestrator: plan + sub-agents calling a 500 ms tool + report, 5 runs each");
    println!("  one sub-agent    : median {}", ms(one));
    println!(
        "  three in parallel: median {}  = {:.2} × one (target ≤ 1.2)",
        ms(three),
        three.as_secs_f64() / one.as_secs_f64()
    );
    handle.shutdown().await;
}

/// One turn with and without `--trace` (the trace written to a file as it runs): what saving
/// the trace adds (target < 5%).
async fn traced_turn() {
    let Rig {
        mock,
        config,
        provider,
        handle,
        settings,
    } = rig().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = mcpomni::tracefile::config_secrets(&config);
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for round in 0..(ROUNDS * TURNS_PER_ROUND + 5) {
        // Without --trace, `run` still reads the events (its progress lines): so does this.
        script(&mock);
        let start = Instant::now();
        let (events, mut received) = tokio::sync::mpsc::channel(64);
        let drain = tokio::spawn(async move { while received.recv().await.is_some() {} });
        let (record, _) = run_once(
            &settings,
            provider.clone(),
            handle.clone(),
            "echo hello".into(),
            AgentMode::Auto,
            ApproveAll::All,
            None,
            events,
            CancellationToken::new(),
        )
        .await;
        let _ = drain.await;
        let plain_took = start.elapsed();
        assert_eq!(record.outcome, TurnOutcome::Answered);
        script(&mock);
        let writer = match mcpomni::tracefile::TraceWriter::create(
            &dir.path().join("turn.jsonl"),
            secrets.clone(),
        ) {
            Ok(writer) => writer,
            Err(error) => panic!("trace file: {error}"),
        };
        // As `run --trace` does: the agent's tracer writes each step before sending it.
        let mut traced_settings = settings.clone();
        traced_settings.trace = Some(Arc::new(mcpomni::tracefile::TraceSink::new(writer)));
        let start = Instant::now();
        let (events, mut received) = tokio::sync::mpsc::channel(64);
        let drain = tokio::spawn(async move { while received.recv().await.is_some() {} });
        let (record, _) = run_once(
            &traced_settings,
            provider.clone(),
            handle.clone(),
            "echo hello".into(),
            AgentMode::Auto,
            ApproveAll::All,
            None,
            events,
            CancellationToken::new(),
        )
        .await;
        let _ = drain.await;
        let traced_took = start.elapsed();
        assert_eq!(record.outcome, TurnOutcome::Answered);
        // The first rounds warm both paths up.
        if round >= 5 {
            plain.push(plain_took);
            traced.push(traced_took);
        }
    }
    let (plain, traced) = (median(&mut plain), median(&mut traced));
    println!("agent turn with --trace (every step written to a file as it happens):");
    println!("  without: median {}", ms(plain));
    println!(
        "  with   : median {}  ({:+.1}%, target < +5%)",
        ms(traced),
        (traced.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0
    );
    handle.shutdown().await;
}

fn main() {
    // `cargo bench --bench agent -- parallel` runs only the sections whose names contain one
    // of the words given.
    let wanted = common::wanted_sections();
    common::run(async {
        if wanted("agent_turn") {
            agent_turn().await;
        }
        if wanted("traced_turn") {
            traced_turn().await;
        }
        if wanted("parallel_sub_agents") {
            parallel_sub_agents().await;
        }
    });
}
