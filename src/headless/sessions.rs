//! `mcpomni sessions`: the stored conversations of the configured store (`--memory`, else the
//! config's `memory.backend`). A table or `--json` to list them; `show` prints one as text,
//! `export` as JSON entries or Markdown, `delete` removes its stored history.

use crate::cli::{ExportFormat, SessionsCmd};
use crate::llm::ChatMessage;
use crate::memory::{EntryBody, MemoryError, SessionEntry, SessionId, SharedStore, history};
use crate::text::{human_duration, sanitize_line};

use super::output::Out;
use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

pub async fn sessions(store: SharedStore, action: Option<SessionsCmd>, json: bool) -> i32 {
    let mut out = Out::stdout();
    let result = match action {
        None => list(&store, &mut out, json).await,
        Some(SessionsCmd::Show { id }) => show(&store, &mut out, &id).await,
        Some(SessionsCmd::Export { id, format }) => export(&store, &mut out, &id, format).await,
        Some(SessionsCmd::Delete { id }) => match store.delete(&id).await {
            Ok(true) => {
                eprintln!("mcpomni: deleted session {id}");
                Ok(EXIT_OK)
            }
            Ok(false) => Err(MemoryError::NotFound(id)),
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(status) => status,
        Err(error @ MemoryError::NotFound(_)) => {
            eprintln!("mcpomni: {error} in the {} store", store.kind().label());
            EXIT_USAGE
        }
        Err(error) => {
            eprintln!("mcpomni: {error}");
            EXIT_FAILURE
        }
    }
}

async fn list(store: &SharedStore, out: &mut Out, json: bool) -> Result<i32, MemoryError> {
    let sessions = store.list().await?;
    if json {
        out.json(&sessions);
        return Ok(EXIT_OK);
    }
    if sessions.is_empty() {
        eprintln!(
            "mcpomni: no sessions in the {} store ({})",
            store.kind().label(),
            store.location()
        );
        return Ok(EXIT_OK);
    }
    let now = crate::protocol::trace::now_ms();
    out.text(&format!(
        "{:<28} {:>8} {:>8} {:>10}  TITLE",
        "ID", "MESSAGES", "TOKENS", "UPDATED"
    ));
    for session in sessions {
        let age = std::time::Duration::from_millis(now.saturating_sub(session.updated));
        out.text(&format!(
            "{:<28} {:>8} {:>8} {:>10}  {}",
            session.id,
            session.messages,
            session.tokens,
            format!("{} ago", human_duration(age)),
            sanitize_line(&session.title)
        ));
    }
    Ok(EXIT_OK)
}

async fn show(store: &SharedStore, out: &mut Out, id: &SessionId) -> Result<i32, MemoryError> {
    let loaded = store.load(id).await?;
    for warning in &loaded.warnings {
        eprintln!("mcpomni: warning: {warning}");
    }
    out.text(&markdown(id, &loaded.entries));
    Ok(EXIT_OK)
}

async fn export(
    store: &SharedStore,
    out: &mut Out,
    id: &SessionId,
    format: ExportFormat,
) -> Result<i32, MemoryError> {
    let loaded = store.load(id).await?;
    for warning in &loaded.warnings {
        eprintln!("mcpomni: warning: {warning}");
    }
    match format {
        ExportFormat::Json => out.json(&loaded.entries),
        ExportFormat::Markdown => out.text(&markdown(id, &loaded.entries)),
    }
    Ok(EXIT_OK)
}

/// A session's conversation as Markdown: each message under a heading naming who spoke, tool
/// calls with their JSON arguments, results fenced.
pub fn markdown(id: &SessionId, entries: &[SessionEntry]) -> String {
    let mut text = format!("# Session {id}\n");
    for entry in entries {
        match &entry.body {
            EntryBody::Message { message, .. } => match message {
                ChatMessage::User(said) => text.push_str(&format!("\n## You\n\n{said}\n")),
                ChatMessage::Assistant {
                    text: said,
                    tool_calls,
                    ..
                } => {
                    text.push_str("\n## Assistant\n");
                    if !said.is_empty() {
                        text.push_str(&format!("\n{said}\n"));
                    }
                    for call in tool_calls {
                        text.push_str(&format!(
                            "\nCalls `{}`:\n\n```json\n{}\n```\n",
                            call.name,
                            serde_json::to_string_pretty(&call.arguments).unwrap_or_default()
                        ));
                    }
                }
                ChatMessage::ToolResult {
                    name,
                    content,
                    is_error,
                    ..
                } => {
                    let what = if *is_error { "error" } else { "result" };
                    text.push_str(&format!("\n### `{name}` {what}\n\n```\n{content}\n```\n"));
                }
            },
            EntryBody::Summary { text: summary, .. } => {
                text.push_str(&format!("\n## Summary of what came before\n\n{summary}\n"));
            }
            EntryBody::Sampling { server, reply, .. } => {
                text.push_str(&format!(
                    "\n## Sampling request from {server}\n\n{}\n",
                    reply.as_deref().unwrap_or("(refused)")
                ));
            }
            EntryBody::Usage { .. } | EntryBody::Step { .. } | EntryBody::Unknown => {}
        }
    }
    let (input, output) = history::tokens(entries);
    if input + output > 0 {
        text.push_str(&format!(
            "\n---\n{input} input and {output} output tokens\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;
    use serde_json::json;

    #[test]
    fn markdown_has_every_message_and_no_raw_json_entries() {
        let id: SessionId = "s".parse().expect("id");
        let entries = [
            SessionEntry::message(ChatMessage::user("add 2 and 3")),
            SessionEntry::message(ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "demo__add".into(),
                    arguments: json!({"a": 2, "b": 3}),
                }],
                provider_state: None,
            }),
            SessionEntry::message(ChatMessage::ToolResult {
                call_id: "c1".into(),
                name: "demo__add".into(),
                content: "2 + 3 = 5".into(),
                is_error: false,
            }),
            SessionEntry::message(ChatMessage::assistant("It is 5.")),
            SessionEntry::now(EntryBody::Usage {
                input_tokens: 30,
                output_tokens: 4,
                cost_usd: None,
            }),
        ];
        let text = markdown(&id, &entries);
        for expected in [
            "# Session s",
            "## You\n\nadd 2 and 3",
            "Calls `demo__add`:",
            "\"a\": 2",
            "### `demo__add` result\n\n```\n2 + 3 = 5\n```",
            "## Assistant\n\nIt is 5.",
            "30 input and 4 output tokens",
        ] {
            assert!(text.contains(expected), "{expected:?} missing:\n{text}");
        }
    }
}
