//! `/compact`: the model summarises everything before the last turn; the summary replaces it
//! in the model's context while the stored session keeps it all. The summary is asked for on
//! its own task, so approvals and cancels still reach the actor meanwhile.

use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;

use super::AgentActor;
use super::usage::UsageMeter;
use crate::llm::{ChatMessage, ChatRequest, LlmProvider, StreamEvent};
use crate::memory::{EntryBody, SessionEntry, history};
use crate::protocol::session::SessionEvent;

/// What `/compact` asks the model for.
const COMPACT_PROMPT: &str = "You compress conversations. Summarise the conversation below so \
that it can be continued from the summary alone: the user's goals, facts learned, decisions \
made, tool results that still matter (with their key values), and open questions. Be \
concise; write plain prose or short lists; do not address the user.";
/// Characters of one tool result shown to the summariser.
const RESULT_CHARS: usize = 4000;

/// A finished `/compact`: the summary and how many messages it replaces.
pub(super) type Compacted = Result<(String, usize), String>;

impl AgentActor {
    pub(super) async fn start_compaction(&mut self) {
        let split = compaction_split(&self.history);
        if split < 2 {
            self.note("Nothing to compact yet: the conversation is one turn long.")
                .await;
            return;
        }
        self.note(format!(
            "Compacting: the model summarises the first {} (the last turn is kept as it is)…",
            crate::text::plural(split, "message", "messages")
        ))
        .await;
        let provider = self.provider.clone();
        let usage = self.usage.clone();
        let older = self.history[..split].to_vec();
        let limit = self.settings.context.request_limit();
        self.compacting = Some(tokio::spawn(async move {
            summarise(provider, usage, &older, limit)
                .await
                .map(|text| (text, split))
        }));
    }

    /// A `/compact` ended: the summary replaces what it summarised, in the context and in the
    /// stored session (which keeps the full history before it).
    pub(super) async fn on_compacted(&mut self, done: Result<Compacted, tokio::task::JoinError>) {
        self.compacting = None;
        let (summary, replaced) = match done {
            Ok(Ok(done)) => done,
            Ok(Err(why)) => {
                self.note(format!("Not compacted: {why}.")).await;
                return;
            }
            Err(_) => {
                self.note("Not compacted: the task failed.").await;
                return;
            }
        };
        let before = self.history.len();
        let replaced = replaced.min(before);
        self.history.drain(..replaced);
        self.history.insert(0, history::summary_message(&summary));
        if let Some(sink) = &self.settings.session {
            sink.write(vec![SessionEntry::now(EntryBody::Summary {
                text: summary.clone(),
                replaces: u64::try_from(replaced).unwrap_or(u64::MAX),
            })]);
        }
        let after = self.history.len();
        let note = format!(
            "Compacted: {} became this summary; the model now sees {} (the stored session \
             keeps everything).\n{}",
            crate::text::plural(replaced, "message", "messages"),
            crate::text::plural(after, "message", "messages"),
            summary
        );
        self.session_event(SessionEvent::Switched {
            id: self.current_session().cloned(),
            history: self.history.clone(),
            said: Vec::new(),
            steps: Vec::new(),
            redraw: false,
            note,
        })
        .await;
    }
}

/// Where `/compact` cuts: everything before the last turn (the last user message that is not
/// a tool observation) is summarised.
pub(super) fn compaction_split(history: &[ChatMessage]) -> usize {
    history
        .iter()
        .rposition(|message| matches!(message, ChatMessage::User(_)))
        .unwrap_or(0)
}

/// The conversation as a transcript the summariser reads (tool calls and results as text, so
/// no provider sees a call without its result).
///
/// With `limit` (the model's window less the reply), the oldest messages that do not fit are
/// left out, and the transcript says how many: the history fitting had kept them from the
/// model already, and the stored session still has them.
fn transcript(messages: &[ChatMessage], limit: Option<u64>) -> String {
    let parts: Vec<String> = messages.iter().map(transcript_part).collect();
    let mut first = 0;
    if let Some(limit) = limit {
        // Room for the instructions and the note about what was left out.
        let room = limit.saturating_sub(200);
        let mut total = 0u64;
        first = parts.len();
        for (index, part) in parts.iter().enumerate().rev() {
            total = total.saturating_add(crate::memory::tokens::count(part).tokens);
            if total > room {
                break;
            }
            first = index;
        }
    }
    let mut out = String::new();
    if first > 0 {
        out.push_str(&format!(
            "({} earlier messages are left out: they do not fit the model's window.)\n\n",
            first
        ));
    }
    for part in &parts[first..] {
        out.push_str(part);
    }
    out
}

/// One message of the transcript.
fn transcript_part(message: &ChatMessage) -> String {
    let mut out = String::new();
    {
        match message {
            ChatMessage::User(text) => out.push_str(&format!("User: {text}\n\n")),
            ChatMessage::Assistant {
                text, tool_calls, ..
            } => {
                if !text.is_empty() {
                    out.push_str(&format!("Assistant: {text}\n\n"));
                }
                for call in tool_calls {
                    out.push_str(&format!(
                        "Assistant called tool {} with {}\n\n",
                        call.name, call.arguments
                    ));
                }
            }
            ChatMessage::ToolResult { name, content, .. } => {
                let shown = crate::text::truncate_chars(content, RESULT_CHARS);
                out.push_str(&format!("Tool {name} returned: {shown}\n\n"));
            }
        }
    }
    out
}

/// Asks the model for a summary of `messages`; its usage counts like any request.
async fn summarise(
    provider: Arc<dyn LlmProvider>,
    usage: Arc<Mutex<UsageMeter>>,
    messages: &[ChatMessage],
    limit: Option<u64>,
) -> Result<String, String> {
    let mut turn = {
        let meter = usage.lock().unwrap_or_else(PoisonError::into_inner);
        meter.check()?;
        meter.new_turn()
    };
    let request = ChatRequest {
        system: Some(COMPACT_PROMPT.to_owned()),
        messages: vec![ChatMessage::user(transcript(messages, limit))],
        ..ChatRequest::default()
    };
    let mut stream = provider.stream(request);
    let mut reply = Err("the model's reply ended early".to_owned());
    let mut reply_usage = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Finished { text, usage, .. }) => {
                reply_usage = usage;
                reply = Ok(text);
                break;
            }
            Ok(_) => {}
            Err(error) => {
                reply = Err(error.to_string());
                break;
            }
        }
    }
    usage
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record(reply_usage, &mut turn);
    let text = reply?;
    if text.trim().is_empty() {
        return Err("the model's summary was empty".to_owned());
    }
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    #[test]
    fn compaction_keeps_the_last_turn_whole() {
        let history = vec![
            ChatMessage::user("one"),
            ChatMessage::assistant("a"),
            ChatMessage::user("two"),
            ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c".into(),
                    name: "t".into(),
                    arguments: serde_json::json!({}),
                }],
                provider_state: None,
            },
            ChatMessage::ToolResult {
                call_id: "c".into(),
                name: "t".into(),
                content: "r".into(),
                is_error: false,
            },
        ];
        assert_eq!(compaction_split(&history), 2);
        assert_eq!(compaction_split(&history[..2]), 0);
    }

    #[test]
    fn a_transcript_too_big_for_the_window_leaves_out_its_oldest_messages() {
        let messages: Vec<ChatMessage> = (0..50)
            .map(|n| ChatMessage::user(format!("message {n} {}", "word ".repeat(100))))
            .collect();
        let whole = transcript(&messages, None);
        assert!(whole.starts_with("User: message 0 "));
        let fitted = transcript(&messages, Some(2_000));
        assert!(fitted.starts_with("("), "{}", &fitted[..80]);
        assert!(fitted.contains("message 49 "));
        assert!(!fitted.contains("message 0 "));
        let left_out: usize = fitted[1..]
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count");
        assert!(left_out > 0 && left_out < 50, "{left_out}");
        assert!(crate::memory::tokens::count(&fitted).tokens <= 2_000);
    }
}
