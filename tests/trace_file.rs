//! Saved traces end to end, with the real binary: `mcpomni run --trace F` against the loopback
//! mock LLM and the demo server writes an owner-only JSON Lines file with no configured secret
//! in it; `mcpomni replay F` prints the same answer byte for byte with no LLM running (and
//! `--live` names a result that differs); `mcpomni trace F` opens the Trace pane in tmux with
//! the last step selected; a broken file is refused with its line number. Orchestrated runs
//! (parallel sub-agents), text-protocol runs (configured, or after the provider refused tools)
//! and forks replay too, each branch on its own recorded replies.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use llm_mock::{MockCall, MockLlm, Reply};
use mcpomni::agent::trace::StepSink;
use mcpomni::protocol::{
    AgentCommand, AgentEvent, AgentMode, StepBody, StepId, TraceStep, TurnId, TurnOutcome,
};
use mcpomni::redact::Secrets;
use mcpomni::tracefile::recording::Recording;
use mcpomni::tracefile::replay::{Replay, Tools, replay};
use mcpomni::tracefile::{Trace, TraceSink, TraceWriter, read_trace};
use serde_json::{Value, json};
use support::tmux::Tmux;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A value the config marks secret (a stdio server's `env`): it must never reach the file.
const SECRET: &str = "sekret-env-value-0042";
const ANSWER: &str = "The server echoed it back.\nAll done.";

/// Writes `servers_config.json` with the demo server (carrying [`SECRET`] in its env) and,
/// given a mock, the mock as the LLM.
fn write_config(dir: &Path, mock: Option<&MockLlm>) {
    write_config_with(dir, mock, json!({}));
}

/// [`write_config`] with `llm_extra` merged into the `LLM` block (e.g. `tool_calling`).
fn write_config_with(dir: &Path, mock: Option<&MockLlm>, llm_extra: Value) {
    let mut config = json!({"mcpServers": {"demo": {
        "command": support::bin().display().to_string(),
        "args": ["demo-server"],
        "env": {"DEMO_TOKEN": SECRET},
    }}});
    if let Some(mock) = mock {
        let mut llm = json!({
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        });
        if let (Some(llm), Value::Object(extra)) = (llm.as_object_mut(), llm_extra) {
            llm.extend(extra);
        }
        config["LLM"] = llm;
    }
    std::fs::write(dir.join("servers_config.json"), config.to_string()).expect("write config");
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(support::bin());
    command
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env("HOME", dir)
        .env("LLM_API_KEY", "sk-test-trace-0123456789")
        .stdin(std::process::Stdio::null());
    command
}

async fn mcpomni(dir: &Path, args: &[&str]) -> Output {
    let mut command = command(dir, args);
    tokio::task::spawn_blocking(move || command.output().expect("binary runs"))
        .await
        .expect("join")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Records a run (an echo of the secret, then [`ANSWER`]) into `dir/run.jsonl`, over an
/// existing world-readable file; returns the run's output.
async fn record_run(dir: &Path) -> Output {
    let mock = MockLlm::start().await;
    write_config(dir, Some(&mock));
    let arguments = json!({ "message": format!("token {SECRET}") }).to_string();
    mock.push(Reply::tool_calls(
        vec![MockCall::new("c1", "demo__echo", &[arguments.as_str()])],
        (10, 5),
    ));
    mock.push(Reply::text(
        &["The server echoed it back.\n", "All done."],
        (30, 6),
    ));
    let file = dir.join("run.jsonl");
    std::fs::write(&file, "an old file\n").expect("old file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = mcpomni(
        dir,
        &[
            "run",
            "echo my token",
            "--approve",
            "all",
            "--trace",
            "run.jsonl",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{ANSWER}\n"));
    out
}

#[tokio::test]
async fn a_recorded_run_is_private_scrubbed_and_replays_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = record_run(dir.path()).await;
    let file = dir.path().join("run.jsonl");
    let mode = std::fs::metadata(&file)
        .expect("trace file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the existing 0644 file was made owner-only");
    let text = std::fs::read_to_string(&file).expect("read trace");
    assert!(!text.contains("an old file"), "the old file was replaced");
    assert!(
        !text.contains(SECRET),
        "the secret reached the trace:\n{text}"
    );
    assert!(!text.contains("sk-test-trace"), "the key reached the trace");
    assert!(text.ends_with('\n'));
    let mut kinds = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let step: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", number + 1));
        assert_eq!(step["v"], 1, "{line}");
        kinds.push(step["kind"].as_str().expect("a kind").to_owned());
        if step["kind"] == "tool_call" {
            assert_eq!(step["arguments"]["message"], "token ***", "{line}");
        }
    }
    for kind in [
        "turn",
        "model_request",
        "model_reply",
        "tool_call",
        "tool_result",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} step in {kinds:?}"
        );
    }

    // No LLM any more: the config's LLM points at a closed port, and no mock runs.
    let replay = mcpomni(dir.path(), &["replay", "run.jsonl"]).await;
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    assert_eq!(replay.stdout, run.stdout, "the same answer, byte for byte");
    let err = stderr(&replay);
    assert!(err.contains("→ demo__echo"), "the call is reported: {err}");
    assert!(err.contains("replayed 1 turn and 1 tool call"), "{err}");

    // Live: the demo server echoes the same text, so nothing differs.
    let live = mcpomni(dir.path(), &["replay", "--live", "run.jsonl"]).await;
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
    assert_eq!(live.stdout, run.stdout);

    // A recorded result that is not what the server says now is named, with exit 1.
    let tampered: Vec<String> = text
        .lines()
        .map(|line| {
            let mut step: Value = serde_json::from_str(line).expect("JSON");
            if step["kind"] == "tool_result" {
                step["content"] = json!("something else");
            }
            step.to_string()
        })
        .collect();
    std::fs::write(
        dir.path().join("tampered.jsonl"),
        tampered.join("\n") + "\n",
    )
    .expect("write");
    let live = mcpomni(dir.path(), &["replay", "--live", "tampered.jsonl"]).await;
    assert_eq!(live.status.code(), Some(1), "{}", stderr(&live));
    let err = stderr(&live);
    assert!(
        err.contains("(demo__echo, call 1) differs from the recording"),
        "{err}"
    );
    assert!(
        err.contains("recorded `something else`, now `token ***`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_broken_trace_is_refused_with_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), None);
    let step = r#"{"v":1,"id":1,"started_ms":1,"status":"ok","kind":"limit","reason":"x"}"#;
    std::fs::write(
        dir.path().join("cut.jsonl"),
        format!("{step}\n{}", &step[..30]),
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "hello\n").expect("write");
    for (file, expected) in [
        ("cut.jsonl", "cut.jsonl:2: the last line is cut short"),
        ("notes.txt", "notes.txt:1: not a trace file"),
    ] {
        for command in ["replay", "trace"] {
            let out = mcpomni(dir.path(), &[command, file]).await;
            assert_eq!(out.status.code(), Some(2), "{command} {file}");
            let err = stderr(&out);
            assert!(err.contains(expected), "{command} {file}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // The dashboard's --trace before a subcommand is refused rather than ignored.
    let out = mcpomni(dir.path(), &["--trace", "x.jsonl", "servers"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("mcpomni run --trace FILE"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("x.jsonl").exists());
}

#[tokio::test]
async fn the_trace_command_opens_the_trace_pane_on_the_last_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    record_run(dir.path()).await;
    let home = dir.path().display().to_string();
    let command = format!(
        "cd '{home}' && '{}' trace run.jsonl",
        support::bin().display()
    );
    let env = [
        ("HOME", home.as_str()),
        ("XDG_CONFIG_HOME", home.as_str()),
        ("XDG_STATE_HOME", home.as_str()),
        ("XDG_DATA_HOME", home.as_str()),
    ];
    // Large enough for the grid: the Trace pane still fills the screen.
    let tmux = Tmux::start("trace-view", 130, 36, &command, &env);
    let screen = tmux.wait_for("the Trace pane", Duration::from_secs(15), |s| {
        s.contains("reply · final answer") && s.contains("All done.")
    });
    let selected = screen
        .lines()
        .find(|line| line.contains('▶'))
        .unwrap_or_else(|| panic!("no selected row:\n{screen}"));
    assert!(selected.contains("reply · final answer"), "{screen}");
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(" reply · ")).collect();
    assert_eq!(rows.len(), 2, "both replies are rows: {screen}");
    assert!(
        screen.contains("tool call demo__echo") || screen.contains("demo__echo"),
        "{screen}"
    );
    assert!(
        !screen.contains("Servers ─"),
        "zoomed: no other pane is drawn:\n{screen}"
    );
    assert!(!screen.contains(SECRET), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", Duration::from_secs(10));
}

/// Replays `file` offline and with `--live`: both exit 0, print `expected` byte for byte and
/// name no difference; the offline one says `summary`.
async fn assert_replays(dir: &Path, file: &str, expected: &[u8], summary: &str) {
    let replay = mcpomni(dir, &["replay", file]).await;
    let err = stderr(&replay);
    assert_eq!(replay.status.code(), Some(0), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(expected),
        "the same answer, byte for byte: {err}"
    );
    assert_eq!(replay.stdout, expected);
    assert!(err.contains(summary), "{err}");
    let live = mcpomni(dir, &["replay", "--live", file]).await;
    let err = stderr(&live);
    assert_eq!(live.status.code(), Some(0), "{err}");
    assert_eq!(live.stdout, expected, "{err}");
    assert!(!err.contains("differs"), "{err}");
}

/// Replays `trace` in this process from its recorded results; returns the replay and the
/// newest version of every step it traced.
async fn replay_in_process(trace: &Trace) -> (Replay, Vec<TraceStep>) {
    let recording = Recording::from_trace(trace);
    let (events, mut seen) = mpsc::channel(4096);
    let collector = tokio::spawn(async move {
        let mut steps: Vec<TraceStep> = Vec::new();
        while let Some(event) = seen.recv().await {
            if let AgentEvent::Trace(step) = event {
                match steps.iter_mut().find(|known| known.id == step.id) {
                    Some(known) => *known = (*step).clone(),
                    None => steps.push((*step).clone()),
                }
            }
        }
        steps
    });
    let replayed = replay(
        &recording,
        Tools::Recorded,
        events,
        CancellationToken::new(),
    )
    .await;
    let steps = collector.await.expect("the collector ends with the replay");
    (replayed, steps)
}

/// What each sub-agent did: (index, goal, answer, the arguments of its tool calls), by index.
fn sub_agent_work(steps: &[TraceStep]) -> Vec<(u32, String, Option<String>, Vec<Value>)> {
    let parent = |id: StepId| steps.iter().find(|s| s.id == id).and_then(|s| s.parent);
    let mut work: Vec<_> = steps
        .iter()
        .filter_map(|step| match &step.body {
            StepBody::SubAgent {
                index,
                goal,
                answer,
                ..
            } => {
                let calls = steps
                    .iter()
                    .filter_map(|call| match &call.body {
                        // A call's parent is a reply, whose parent is a request of the agent.
                        StepBody::ToolCall { arguments, .. }
                            if call.parent.and_then(parent).and_then(parent) == Some(step.id) =>
                        {
                            Some(arguments.clone())
                        }
                        _ => None,
                    })
                    .collect();
                Some((*index, goal.clone(), answer.clone(), calls))
            }
            _ => None,
        })
        .collect();
    work.sort_by_key(|(index, ..)| *index);
    work
}

#[tokio::test]
async fn an_orchestrated_run_replays_each_sub_agent_on_its_own_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = MockLlm::start().await;
    write_config(dir.path(), Some(&mock));
    let plan = json!({"phases": [{"name": "wait", "tasks": [
        {"goal": "wait a little", "tools": ["demo__sleep"]},
        {"goal": "wait a bit longer", "tools": ["demo"]},
    ]}]})
    .to_string();
    mock.push(Reply::text(&[plan.as_str()], (40, 20)));
    // The two sub-agents ask at the same time and each sleeps: both first requests reach the
    // model before either second one, so their replies interleave in the recording.
    for (id, ms) in [("call_a", 300), ("call_b", 450)] {
        let arguments = json!({ "ms": ms }).to_string();
        mock.push(Reply::tool_calls(
            vec![MockCall::new(id, "demo__sleep", &[arguments.as_str()])],
            (20, 5),
        ));
    }
    mock.push(Reply::text(&["Waited first."], (30, 4)));
    mock.push(Reply::text(&["Waited second."], (30, 4)));
    mock.push(Reply::text(
        &["Both waits are done.\n", "Nothing failed."],
        (60, 9),
    ));
    let run = mcpomni(
        dir.path(),
        &[
            "run",
            "wait twice",
            "--mode",
            "orchestrator",
            "--approve",
            "all",
            "--trace",
            "orchestrated.jsonl",
        ],
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "Both waits are done.\nNothing failed.\n"
    );
    drop(mock);

    let trace = read_trace(&dir.path().join("orchestrated.jsonl")).expect("the trace reads");
    let sub_agents: Vec<StepId> = trace
        .steps
        .iter()
        .filter(|step| matches!(step.body, StepBody::SubAgent { .. }))
        .map(|step| step.id)
        .collect();
    assert_eq!(sub_agents.len(), 2);
    let askers: Vec<StepId> = trace
        .steps
        .iter()
        .filter(|step| matches!(step.body, StepBody::ModelRequest { .. }))
        .filter_map(|step| step.parent.filter(|parent| sub_agents.contains(parent)))
        .collect();
    assert_eq!(askers.len(), 4, "two requests per sub-agent");
    assert_ne!(
        askers[0], askers[1],
        "the sub-agents ran at the same time: {askers:?}"
    );

    assert_replays(
        dir.path(),
        "orchestrated.jsonl",
        &run.stdout,
        "replayed 1 turn and 2 tool calls",
    )
    .await;

    // Each sub-agent got its own recorded call and answer back.
    let (replayed, steps) = replay_in_process(&trace).await;
    assert_eq!(replayed.difference, None);
    let recorded = sub_agent_work(&trace.steps);
    assert_eq!(recorded.len(), 2);
    assert!(recorded.iter().all(|(_, _, _, calls)| calls.len() == 1));
    assert_eq!(sub_agent_work(&steps), recorded);
}

/// Records a text-protocol run of `mcpomni run` into `dir/text.jsonl` (with `tool_calling`;
/// `reject_tools`: the provider first refuses the request's tool definitions, as a model
/// without tool support does) and checks its answer.
async fn record_text_run(dir: &Path, tool_calling: &str, reject_tools: bool) -> Output {
    let mock = MockLlm::start().await;
    write_config_with(dir, Some(&mock), json!({ "tool_calling": tool_calling }));
    if reject_tools {
        mock.push(Reply::status(
            400,
            json!({"error": {"message": "registry.ollama.ai/library/gemma2:2b does not support tools",
                "type": "api_error", "param": null, "code": null}}),
        ));
    }
    mock.push(Reply::text(
        &["Thought: I should echo it.\nAction: demo__echo\nAction Input: {\"message\": \"hello text\"}"],
        (20, 8),
    ));
    mock.push(Reply::text(
        &[
            "Thought: It echoed.\nFinal Answer: The server said hello text.\n",
            "That is all.",
        ],
        (40, 9),
    ));
    let out = mcpomni(
        dir,
        &[
            "run",
            "echo hello",
            "--approve",
            "all",
            "--trace",
            "text.jsonl",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "The server said hello text.\nThat is all.\n"
    );
    let journal = mock.journal();
    assert_eq!(journal.len(), 2 + usize::from(reject_tools));
    let last = &journal[journal.len() - 1].body;
    assert!(
        last.get("tools")
            .is_none_or(|tools| tools.as_array().is_none_or(Vec::is_empty)),
        "the last request was made under the text protocol: {last}"
    );
    out
}

#[tokio::test]
async fn a_text_protocol_run_replays_its_actions_to_the_same_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = record_text_run(dir.path(), "text", false).await;
    assert_replays(
        dir.path(),
        "text.jsonl",
        &run.stdout,
        "replayed 1 turn and 1 tool call",
    )
    .await;
}

#[tokio::test]
async fn a_run_that_fell_back_to_the_text_protocol_replays_the_switch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = record_text_run(dir.path(), "auto", true).await;
    let text = std::fs::read_to_string(dir.path().join("text.jsonl")).expect("read");
    assert!(text.contains("does not support tools"), "{text}");
    assert_replays(
        dir.path(),
        "text.jsonl",
        &run.stdout,
        "replayed 1 turn and 1 tool call",
    )
    .await;
    let replay = mcpomni(dir.path(), &["replay", "text.jsonl"]).await;
    assert!(
        stderr(&replay).contains("tools are offered as text"),
        "the replay switched as the run did: {}",
        stderr(&replay)
    );
}

/// Waits for the end of `turn`, keeping every trace step seen on the way.
async fn finish_turn(
    events: &mut mpsc::Receiver<AgentEvent>,
    steps: &mut Vec<TraceStep>,
    turn: TurnId,
) -> TurnOutcome {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an agent event in time")
            .expect("events flow");
        match event {
            AgentEvent::Trace(step) => match steps.iter_mut().find(|s| s.id == step.id) {
                Some(known) => *known = (*step).clone(),
                None => steps.push((*step).clone()),
            },
            AgentEvent::TurnFinished {
                turn: finished,
                outcome,
                ..
            } if finished == turn => return outcome,
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_fork_replays_after_the_turn_it_forked_each_on_its_own_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = MockLlm::start().await;
    let config = support::config(json!({
        "mcpServers": {"demo": support::demo()},
        "AgentConfig": {"auto_approve": ["demo__*"]},
        "LLM": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        },
    }));
    let file = dir.path().join("fork.jsonl");
    let writer = TraceWriter::create(&file, Secrets::default()).expect("trace file");
    // As `--trace` does: the agent's tracer writes each step before sending its event.
    let sink: Arc<dyn StepSink> = Arc::new(TraceSink::new(writer));
    let (handle, agent, mut events) =
        support::start_agent_with(&config, |settings| settings.trace = Some(sink)).await;
    let mut steps = Vec::new();

    // The original turn: echo "first", then answer.
    mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "c1",
            "demo__echo",
            &[r#"{"message": "first"}"#],
        )],
        (10, 5),
    ));
    mock.push(Reply::text(&["The first answer."], (20, 5)));
    agent.send(AgentCommand::StartTurn {
        turn: TurnId(1),
        text: "echo something".into(),
        mode: AgentMode::Chat,
    });
    assert_eq!(
        finish_turn(&mut events, &mut steps, TurnId(1)).await,
        TurnOutcome::Answered
    );

    // The fork: the first request again, as the dashboard's `f` sends it; this time the
    // model echoes "second".
    let (from, messages) = steps
        .iter()
        .find_map(|step| match &step.body {
            StepBody::ModelRequest { request, .. } => Some((step.id, request.messages.clone())),
            _ => None,
        })
        .expect("a model request");
    mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "c2",
            "demo__echo",
            &[r#"{"message": "second"}"#],
        )],
        (10, 5),
    ));
    mock.push(Reply::text(&["The forked answer."], (20, 5)));
    agent.send(AgentCommand::Fork {
        turn: TurnId(2),
        from,
        messages: messages.clone(),
    });
    assert_eq!(
        finish_turn(&mut events, &mut steps, TurnId(2)).await,
        TurnOutcome::Answered
    );
    // Every step reached the file before its event was sent.
    handle.shutdown().await;
    drop(mock);

    let trace = read_trace(&file).expect("the trace reads");
    assert!(
        trace
            .steps
            .iter()
            .any(|step| step.body == StepBody::Fork { from }),
        "the trace has the fork"
    );
    let (replayed, replayed_steps) = replay_in_process(&trace).await;
    assert_eq!(replayed.difference, None);
    let answers: Vec<&str> = replayed
        .turns
        .iter()
        .map(|turn| turn.record.answer.as_str())
        .collect();
    assert_eq!(answers, ["The first answer.", "The forked answer."]);
    let echoed: Vec<_> = replayed
        .turns
        .iter()
        .map(|turn| {
            turn.record
                .calls
                .iter()
                .map(|call| call.outcome.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        echoed,
        [vec![Ok("first".to_owned())], vec![Ok("second".to_owned())]]
    );
    // The fork replayed as a fork: from the recorded step, with the conversation it was
    // given, not the first turn's history.
    let fork_turn = replayed_steps
        .iter()
        .find(|step| step.body == StepBody::Fork { from })
        .and_then(|step| step.turn)
        .expect("the replay forked");
    assert_eq!(fork_turn, TurnId(2));
    let first_request = replayed_steps
        .iter()
        .find_map(|step| match &step.body {
            StepBody::ModelRequest { request, .. } if step.turn == Some(fork_turn) => {
                Some(request.messages.clone())
            }
            _ => None,
        })
        .expect("the fork asked the model");
    assert_eq!(first_request, messages);

    // And the binary prints both answers, offline and live.
    write_config(dir.path(), None);
    assert_replays(
        dir.path(),
        "fork.jsonl",
        b"The first answer.\nThe forked answer.\n",
        "replayed 2 turns and 2 tool calls",
    )
    .await;
}
