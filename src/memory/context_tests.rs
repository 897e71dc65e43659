//! The fitting rules: where a history may be cut, what is always kept, the budget edges, and
//! the same rules as properties over generated conversations with tool calls.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::agent::react_text;
use crate::llm::ToolCall;

fn item(tokens: u64, turn_start: bool) -> Item {
    Item {
        tokens,
        floor: tokens.min(MARKER_TOKENS + 10),
        turn_start,
    }
}

/// Turns of `sizes[i]` tokens: each a user message (a turn start) and an answer, 10 and
/// `size - 10` tokens.
fn turns(sizes: &[u64]) -> Vec<Item> {
    sizes
        .iter()
        .flat_map(|&size| [item(10, true), item(size - 10, false)])
        .collect()
}

fn tokens(max: u64) -> Budget {
    Budget {
        messages: None,
        tokens: Some(max),
    }
}

#[test]
fn everything_fits_nothing_goes() {
    let items = turns(&[100, 100, 100]);
    assert_eq!(plan(&items, 4, tokens(300)), Plan::default());
    assert_eq!(plan(&items, 4, Budget::default()), Plan::default());
}

#[test]
fn exactly_at_the_budget_keeps_and_one_over_drops_the_oldest_turn() {
    let items = turns(&[100, 100, 100]);
    assert_eq!(plan(&items, 4, tokens(300)).start, 0);
    assert_eq!(plan(&items, 4, tokens(299)).start, 2);
    assert_eq!(plan(&items, 4, tokens(200)).start, 2);
    assert_eq!(plan(&items, 4, tokens(199)).start, 4);
    // The current turn alone, exactly at the budget: kept whole, nothing cut.
    assert_eq!(
        plan(&items, 4, tokens(100)),
        Plan {
            start: 4,
            cuts: vec![]
        }
    );
}

#[test]
fn a_cut_lands_only_where_a_user_turn_starts() {
    // user, assistant with a call, its result, answer | user, answer.
    let items = vec![
        item(10, true),
        item(20, false),
        item(500, false),
        item(30, false),
        item(10, true),
        item(40, false),
    ];
    // Dropping only the big result would fit, but it would split the call from its result:
    // the whole turn goes.
    let fitted = plan(&items, 4, tokens(100));
    assert_eq!(fitted.start, 4);
    assert!(fitted.cuts.is_empty());
}

#[test]
fn the_current_turn_is_kept_even_past_the_sliding_window() {
    let items = turns(&[100, 100, 100]);
    let window = |n| Budget {
        messages: Some(n),
        tokens: None,
    };
    assert_eq!(plan(&items, 4, window(6)).start, 0);
    assert_eq!(
        plan(&items, 4, window(5)).start,
        2,
        "cut only at a turn start"
    );
    assert_eq!(plan(&items, 4, window(4)).start, 2);
    assert_eq!(plan(&items, 4, window(3)).start, 4);
    assert_eq!(
        plan(&items, 4, window(1)).start,
        4,
        "never inside the current turn"
    );
    assert_eq!(plan(&items, 4, window(0)).start, 4);
}

#[test]
fn an_oversized_current_turn_is_cut_largest_first_never_dropped() {
    let items = vec![
        item(10, true),
        item(10, false),
        item(10, true),
        item(20, false),
        item(5_000, false),
        item(1_000, false),
    ];
    let fitted = plan(&items, 2, tokens(1_200));
    assert_eq!(fitted.start, 2);
    // 6,030 tokens over 1,200: the 5,000-token result absorbs the 4,830.
    assert_eq!(fitted.cuts, vec![(4, 170)]);
    // With less room the next largest is cut too, never below its floor.
    let fitted = plan(&items, 2, tokens(100));
    assert_eq!(fitted.cuts, vec![(4, 40), (5, 40)]);
}

#[test]
fn the_policy_reads_the_config() {
    let memory = MemoryConfig {
        mode: MemoryMode::TokenBudget,
        value: 5_000,
    };
    let mut llm = LlmConfig {
        provider: "openai".into(),
        model: "gpt-4o".into(),
        temperature: None,
        max_tokens: None,
        top_p: None,
        max_context_length: None,
        azure_endpoint: None,
        azure_api_version: None,
        azure_deployment: None,
        ollama_host: None,
        base_url: None,
        price: None,
        tool_calling: Default::default(),
    };
    llm.max_context_length = Some(128_000);
    llm.max_tokens = Some(8_000);
    let policy = ContextPolicy::from_config(&memory, Some(&llm));
    assert_eq!(policy.request_limit(), Some(120_000));
    assert_eq!(policy.mode_label(), "token_budget");
    llm.max_tokens = None;
    let policy = ContextPolicy::from_config(&memory, Some(&llm));
    assert_eq!(policy.request_limit(), Some(128_000 - 4_096));
    llm.max_context_length = Some(8_000);
    let policy = ContextPolicy::from_config(&memory, Some(&llm));
    assert_eq!(
        policy.request_limit(),
        Some(6_000),
        "a quarter of a small window"
    );
    assert_eq!(
        ContextPolicy::from_config(&MemoryConfig::default(), None).request_limit(),
        None
    );
}

#[test]
fn calibration_follows_the_provider_and_ignores_nonsense() {
    let mut calibration = Calibration::default();
    assert_eq!(calibration.ratio(), 1.0);
    calibration.observe(1_000, 1_200);
    assert!((calibration.ratio() - 1.2).abs() < 1e-9);
    calibration.observe(1_000, 1_000);
    assert!((calibration.ratio() - 1.14).abs() < 1e-9);
    // A test double's 10 tokens, a tiny request, no report: ignored.
    calibration.observe(3_000, 10);
    calibration.observe(10, 12);
    calibration.observe(1_000, 0);
    assert!((calibration.ratio() - 1.14).abs() < 1e-9);
}

fn call(id: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: "files__read".into(),
        arguments: json!({"path": format!("/tmp/{id}")}),
    }
}

fn asks(ids: &[&str]) -> ChatMessage {
    ChatMessage::Assistant {
        text: String::new(),
        tool_calls: ids.iter().map(|id| call(id)).collect(),
        provider_state: None,
    }
}

fn result(id: &str, content: String) -> ChatMessage {
    ChatMessage::ToolResult {
        call_id: id.into(),
        name: "files__read".into(),
        content,
        is_error: false,
    }
}

fn words(n: usize) -> String {
    (0..n).map(|i| format!("word{i} ")).collect()
}

fn fitter(mode: MemoryMode, value: u64, window: Option<u64>, reply: u64) -> ContextFitter {
    ContextFitter::new(ContextPolicy {
        mode,
        value,
        window,
        reply_reserve: reply,
    })
}

#[test]
fn a_huge_result_in_the_current_turn_is_cut_with_a_marker_and_the_history_goes() {
    assert!(tokens::load_blocking());
    let history = vec![
        ChatMessage::user("an old question"),
        ChatMessage::assistant(words(300)),
        ChatMessage::user("read the log"),
        asks(&["c1"]),
        result("c1", words(20_000)),
    ];
    let fitter = fitter(MemoryMode::SlidingWindow, 0, Some(8_000), 1_000);
    let request = FitRequest {
        system: "be brief",
        tools: &[],
        messages: &history,
        turn_start: 2,
    };
    let fitted = fitter.fit_now(request);
    assert_eq!(fitted.first_kept, 2);
    assert_eq!(fitted.report.dropped_messages, 2);
    assert!(fitted.report.dropped_tokens > 300);
    assert_eq!(fitted.report.cuts.len(), 1);
    assert_eq!(fitted.report.cuts[0].index, 2);
    assert!(fitted.report.estimate <= 7_000, "{:?}", fitted.report);
    assert!(
        fitted.report.estimate > 6_000,
        "not cut much more than needed"
    );
    let sent = fitted.messages(&history);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0], ChatMessage::user("read the log"));
    let ChatMessage::ToolResult {
        content, call_id, ..
    } = &sent[2]
    else {
        panic!("the result is still there: {sent:?}");
    };
    assert_eq!(call_id, "c1");
    let said = format!("[… {} tokens", fitted.report.cuts[0].tokens);
    assert!(
        content.contains(&said),
        "the marker says how much: {content}"
    );
}

#[test]
fn counts_are_kept_between_requests_and_redone_after_a_change() {
    assert!(tokens::load_blocking());
    let fitter = fitter(MemoryMode::SlidingWindow, 0, None, 0);
    let mut history = vec![
        ChatMessage::user(words(50)),
        ChatMessage::assistant(words(50)),
    ];
    let fit = |history: &[ChatMessage]| {
        fitter
            .fit_now(FitRequest {
                system: "",
                tools: &[],
                messages: history,
                turn_start: history.len().saturating_sub(1),
            })
            .report
            .estimate
    };
    let first = fit(&history);
    assert_eq!(first, fit(&history));
    history.push(ChatMessage::user("more"));
    let more = fit(&history);
    assert!(more > first);
    history[1] = ChatMessage::assistant("short now");
    assert!(fit(&history) < more, "the edit was seen");
    let expected: u64 = history
        .iter()
        .map(|m| tokens::message_tokens(m).tokens)
        .sum();
    assert_eq!(fit(&history), expected);
}

#[test]
fn a_window_counts_the_system_prompt_and_the_tools() {
    assert!(tokens::load_blocking());
    let tools = vec![ToolSpec {
        name: "files__read".into(),
        description: words(400),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }];
    let history: Vec<ChatMessage> = (0..10)
        .flat_map(|i| {
            [
                ChatMessage::user(format!("q{i}")),
                ChatMessage::assistant(words(100)),
            ]
        })
        .collect();
    let request = |tools: &'static [ToolSpec]| FitRequest {
        system: "be brief",
        tools,
        messages: &history,
        turn_start: 18,
    };
    let tools: &'static [ToolSpec] = Box::leak(tools.into_boxed_slice());
    let fitter = fitter(MemoryMode::SlidingWindow, 0, Some(2_000), 200);
    let without = fitter.fit_now(request(&[]));
    let with = fitter.fit_now(request(tools));
    assert!(with.first_kept > without.first_kept, "the tools take room");
    assert!(with.report.estimate <= 1_800, "{:?}", with.report);
    assert!(without.report.estimate <= 1_800, "{:?}", without.report);
}

/// A conversation of `turns`, each a user message, up to two rounds of calls with results
/// (sometimes under the text protocol: an observation instead of a result), and an answer.
fn conversation() -> impl Strategy<Value = (Vec<ChatMessage>, usize)> {
    let turn = (
        1usize..200,
        prop::collection::vec((1usize..3, 1usize..800, any::<bool>()), 0..3),
        0usize..300,
    );
    prop::collection::vec(turn, 1..8).prop_map(|turns| {
        let mut messages = Vec::new();
        let mut turn_start = 0;
        let mut next_id = 0;
        for (user, rounds, answer) in turns {
            turn_start = messages.len();
            messages.push(ChatMessage::user(words(user)));
            for (calls, size, as_text) in rounds {
                if as_text {
                    messages.push(ChatMessage::assistant("Action: files__read"));
                    messages.push(ChatMessage::user(react_text::observation(
                        "files__read",
                        &words(size),
                        false,
                    )));
                    continue;
                }
                let ids: Vec<String> = (0..calls)
                    .map(|_| {
                        next_id += 1;
                        format!("c{next_id}")
                    })
                    .collect();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                messages.push(asks(&refs));
                for id in &ids {
                    messages.push(result(id, words(size)));
                }
            }
            messages.push(ChatMessage::assistant(words(answer)));
        }
        (messages, turn_start)
    })
}

fn policy() -> impl Strategy<Value = ContextPolicy> {
    (
        any::<bool>(),
        prop_oneof![Just(0u64), 1u64..40, 100u64..6_000],
        prop_oneof![Just(None), (500u64..8_000).prop_map(Some)],
        0u64..400,
    )
        .prop_map(|(sliding, value, window, reply_reserve)| ContextPolicy {
            mode: if sliding {
                MemoryMode::SlidingWindow
            } else {
                MemoryMode::TokenBudget
            },
            value,
            window,
            reply_reserve,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The rules hold for any conversation and limits: the history sent is a suffix starting
    /// at a user turn, the current turn is all there (cut, never dropped), every call keeps
    /// its result, and the limits hold unless only the current turn is left.
    #[test]
    fn fitting_keeps_the_rules((history, turn_start) in conversation(), policy in policy()) {
        prop_assert!(tokens::load_blocking());
        let fitter = ContextFitter::new(policy);
        let fitted = fitter.fit_now(FitRequest {
            system: "You are a helpful assistant.",
            tools: &[],
            messages: &history,
            turn_start,
        });
        let sent = fitted.messages(&history);
        let start = fitted.first_kept;
        prop_assert!(start <= turn_start);
        prop_assert_eq!(sent.len(), history.len() - start);
        if start > 0 {
            prop_assert!(counts::is_turn_start(&history[start]), "starts at {:?}", history[start]);
        }
        // Only the current turn's messages are ever cut, and a cut one says so.
        for (index, message) in &fitted.replaced {
            prop_assert!(*index >= turn_start);
            prop_assert!(tokens::main_text(message).contains("cut here by mcpomni"));
        }
        for (i, message) in sent.iter().enumerate() {
            if !fitted.replaced.iter().any(|(at, _)| *at == start + i) {
                prop_assert_eq!(message, &history[start + i]);
            }
        }
        // Calls and results stay together.
        for (i, message) in sent.iter().enumerate() {
            if let ChatMessage::ToolResult { call_id, .. } = message {
                let asked = sent[..i].iter().any(|m| matches!(m,
                    ChatMessage::Assistant { tool_calls, .. }
                        if tool_calls.iter().any(|c| &c.id == call_id)));
                prop_assert!(asked, "result {} without its call", call_id);
            }
            if let ChatMessage::Assistant { tool_calls, .. } = message {
                for call in tool_calls {
                    let answered = sent[i..].iter().any(|m| matches!(m,
                        ChatMessage::ToolResult { call_id, .. } if *call_id == call.id));
                    prop_assert!(answered, "call {} without its result", call.id);
                }
            }
            if let ChatMessage::User(text) = message
                && react_text::is_protocol_message(text)
            {
                prop_assert!(i > 0, "an observation without the action before it");
            }
        }
        // The limits.
        let report = &fitted.report;
        if policy.mode == MemoryMode::SlidingWindow && policy.value > 0 && start < turn_start {
            prop_assert!(sent.len() as u64 <= policy.value);
        }
        let history_tokens: u64 = sent.iter().map(|m| tokens::message_tokens(m).tokens).sum();
        let prefix = tokens::count("You are a helpful assistant.").tokens;
        prop_assert_eq!(report.estimate, prefix + history_tokens);
        let mut limits = Vec::new();
        if policy.mode == MemoryMode::TokenBudget && policy.value > 0 {
            limits.push(policy.value);
        }
        if let Some(limit) = policy.request_limit() {
            limits.push(limit.saturating_sub(prefix));
        }
        if let Some(&limit) = limits.iter().min() {
            if start < turn_start {
                prop_assert!(history_tokens <= limit, "{} over {}", history_tokens, limit);
            }
            // The oldest go first, and no more than needed: one more turn would not fit.
            if start > 0 && fitted.replaced.is_empty() {
                let earlier = (0..start).rev().find(|&i| counts::is_turn_start(&history[i]) || i == 0);
                if let Some(earlier) = earlier {
                    let within_window = match (policy.mode, policy.value) {
                        (MemoryMode::SlidingWindow, n) if n > 0 => (history.len() - earlier) as u64 <= n,
                        _ => true,
                    };
                    let more: u64 = history[earlier..].iter().map(|m| tokens::message_tokens(m).tokens).sum();
                    prop_assert!(!within_window || more > limit, "turn at {} would have fit", earlier);
                }
            }
        }
        // Dropped and kept add up.
        prop_assert_eq!(report.dropped_messages + report.kept_messages, history.len());
    }

    /// The planner over bare sizes: a start is a turn start, never after the current turn,
    /// and the history from it fits whenever anything was dropped or cut.
    #[test]
    fn the_plan_fits_or_keeps_only_the_current_turn(
        sizes in prop::collection::vec((1u64..500, any::<bool>()), 1..60),
        current_back in 0usize..10,
        limit in 0u64..5_000,
        window in prop_oneof![Just(None), (0usize..40).prop_map(Some)],
    ) {
        let items: Vec<Item> = sizes.iter().map(|&(t, s)| item(t, s)).collect();
        let current = items.len().saturating_sub(current_back + 1);
        let fitted = plan(&items, current, Budget { messages: window, tokens: Some(limit) });
        prop_assert!(fitted.start <= current);
        prop_assert!(fitted.start == 0 || fitted.start == current || items[fitted.start].turn_start);
        let kept: u64 = items[fitted.start..].iter().map(|i| i.tokens).sum();
        let saved: u64 = fitted.cuts.iter().map(|&(i, keep)| items[i].tokens - keep).sum();
        if fitted.start < current {
            prop_assert!(kept <= limit);
            prop_assert!(fitted.cuts.is_empty());
        } else {
            // The current turn alone: whole when it fits, else cut down to the limit or as
            // far as its messages can be cut.
            let floors: u64 = items[current..].iter().map(|i| i.floor).sum();
            let expected = if kept <= limit { kept } else { limit.max(floors) };
            prop_assert_eq!(kept - saved, expected);
        }
        for &(i, keep) in &fitted.cuts {
            prop_assert!(i >= current);
            prop_assert!(keep >= items[i].floor && keep < items[i].tokens);
        }
    }
}
