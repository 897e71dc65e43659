//! Calling a tool by hand from the Tools pane: an arguments editor prefilled from the tool's
//! input schema, a running call with live progress (Esc cancels it and the server is told),
//! and the result — a bounded preview, with the whole text in a pager. Only the latest result
//! is kept, so memory stays bounded however big results get.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui_textarea::TextArea;
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::{Map, Value};

use crate::runtime::catalog::ToolEntry;
use crate::runtime::content::blocks_text;
use crate::runtime::messages::{CallId, ServerName};
use crate::text::sanitize;

/// Lines of a result shown in the result overlay; the rest is in the pager.
pub const PREVIEW_LINES: usize = 200;
/// Bytes of a result shown in the preview (a single huge line must not be drawn whole).
const PREVIEW_BYTES: usize = 64 * 1024;

/// Which tool a call is for.
#[derive(Debug, Clone, PartialEq)]
pub struct CallTarget {
    pub server: ServerName,
    pub tool: String,
    pub qualified_name: String,
}

/// A finished call's text, sanitized once, with line starts for the pager.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultText {
    pub text: Arc<str>,
    /// Byte offset where each line starts.
    pub line_starts: Arc<[usize]>,
    pub is_error: bool,
}

impl ResultText {
    pub fn new(text: &str, is_error: bool) -> Self {
        let clean = sanitize(text);
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(clean.match_indices('\n').map(|(i, _)| i + 1))
            .filter(|&start| start < clean.len() || start == 0)
            .collect();
        Self {
            text: Arc::from(clean),
            line_starts: Arc::from(line_starts),
            is_error,
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Line `index` without its newline.
    pub fn line(&self, index: usize) -> &str {
        let Some(&start) = self.line_starts.get(index) else {
            return "";
        };
        let end = self
            .line_starts
            .get(index + 1)
            .map(|next| next - 1)
            .unwrap_or_else(|| self.text.len() - usize::from(self.text.ends_with('\n')));
        self.text.get(start..end.max(start)).unwrap_or("")
    }

    /// The start of the text for the overlay, and whether it was cut.
    pub fn preview(&self) -> (String, bool) {
        let lines_end = self
            .line_starts
            .get(PREVIEW_LINES)
            .copied()
            .unwrap_or(self.text.len());
        let mut end = lines_end.min(PREVIEW_BYTES);
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        (self.text[..end].to_owned(), end < self.text.len())
    }
}

#[derive(Debug)]
pub enum CallView {
    /// Editing the arguments (JSON) before running.
    Editing {
        target: CallTarget,
        editor: Box<TextArea<'static>>,
        error: Option<String>,
    },
    Running {
        id: CallId,
        target: CallTarget,
        started: Instant,
        progress: Option<Progress>,
        cancelling: bool,
    },
    Done {
        target: CallTarget,
        elapsed: Duration,
        outcome: Result<ResultText, String>,
        /// You cancelled it and it ended without a result (the error says how it ended).
        cancelled: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

#[derive(Debug, Default)]
pub struct CallState {
    pub view: Option<CallView>,
    next_id: u64,
}

impl CallState {
    /// Opens the editor for `tool`, prefilled with a skeleton of its arguments.
    pub fn edit(&mut self, tool: &ToolEntry) {
        let mut editor = Box::new(TextArea::new(
            skeleton(&tool.input_schema)
                .lines()
                .map(str::to_owned)
                .collect(),
        ));
        editor.set_placeholder_text("{}");
        self.view = Some(CallView::Editing {
            target: CallTarget {
                server: tool.server.clone(),
                tool: tool.name.clone(),
                qualified_name: tool.qualified_name.clone(),
            },
            editor,
            error: None,
        });
    }

    /// Parses the editor's JSON; on success the call starts and its id and arguments are
    /// returned, on failure the editor shows why.
    pub fn start(&mut self, now: Instant) -> Option<(CallId, CallTarget, JsonObject)> {
        let Some(CallView::Editing {
            target,
            editor,
            error,
        }) = &mut self.view
        else {
            return None;
        };
        let text = editor.lines().join("\n");
        let arguments = match parse_arguments(&text) {
            Ok(arguments) => arguments,
            Err(message) => {
                *error = Some(message);
                return None;
            }
        };
        let target = target.clone();
        self.next_id += 1;
        let id = CallId(self.next_id);
        self.view = Some(CallView::Running {
            id,
            target: target.clone(),
            started: now,
            progress: None,
            cancelling: false,
        });
        Some((id, target, arguments))
    }

    pub fn running_id(&self) -> Option<CallId> {
        match &self.view {
            Some(CallView::Running { id, .. }) => Some(*id),
            _ => None,
        }
    }

    pub fn on_progress(&mut self, call: CallId, update: Progress) {
        if let Some(CallView::Running { id, progress, .. }) = &mut self.view
            && *id == call
        {
            *progress = Some(update);
        }
    }

    /// Shows the outcome of `call` if it is the one running (stale answers are dropped).
    pub fn on_finished(
        &mut self,
        call: CallId,
        outcome: Result<CallToolResult, String>,
        elapsed: Duration,
    ) {
        let Some(CallView::Running {
            id,
            target,
            cancelling,
            ..
        }) = &self.view
        else {
            return;
        };
        if *id != call {
            return;
        }
        // A result that beat the cancellation is still a result.
        let cancelled = *cancelling && outcome.is_err();
        let outcome = outcome.map(|result| {
            let mut text = blocks_text(&result.content);
            if text.is_empty()
                && let Some(structured) = &result.structured_content
            {
                text = serde_json::to_string_pretty(structured).unwrap_or_default();
            }
            ResultText::new(&text, result.is_error.unwrap_or(false))
        });
        self.view = Some(CallView::Done {
            target: target.clone(),
            elapsed,
            outcome,
            cancelled,
        });
    }

    /// The finished call's result, for the pager.
    pub fn result(&self) -> Option<(&CallTarget, &ResultText)> {
        match &self.view {
            Some(CallView::Done {
                target,
                outcome: Ok(result),
                ..
            }) => Some((target, result)),
            _ => None,
        }
    }

    pub fn close(&mut self) {
        self.view = None;
    }
}

/// `text` must be a JSON object (blank means `{}`).
pub fn parse_arguments(text: &str) -> Result<JsonObject, String> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the arguments must be a JSON object, like {\"key\": \"value\"}".to_owned()),
        Err(error) => Err(format!("not valid JSON: {error}")),
    }
}

/// A pretty JSON object with every property of `schema`: its default, or an empty value of
/// its type. Required properties come first, so the editor starts with what must be filled in.
pub fn skeleton(schema: &JsonObject) -> String {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return "{}".to_owned();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort_by_key(|name| !required.contains(&name.as_str()));
    let mut out = Map::new();
    for name in names {
        let property = &properties[name];
        let value = property
            .get("default")
            .cloned()
            .unwrap_or_else(|| empty_value(property));
        out.insert(name.clone(), value);
    }
    serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_else(|_| "{}".to_owned())
}

fn empty_value(property: &Value) -> Value {
    let kind = match property.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // `["string", "null"]`: the first non-null type.
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ => "string",
    };
    match kind {
        "number" | "integer" => Value::from(0),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(Map::new()),
        "null" => Value::Null,
        _ => Value::String(String::new()),
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => panic!("object"),
        }
    }

    #[test]
    fn skeleton_puts_required_first_and_uses_defaults() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "verbose": {"type": "boolean"},
                "steps": {"type": "integer", "default": 5},
                "message": {"type": "string"},
                "tags": {"type": "array"},
                "maybe": {"type": ["string", "null"]}
            },
            "required": ["message"]
        }));
        assert_eq!(
            skeleton(&s),
            "{\n  \"message\": \"\",\n  \"verbose\": false,\n  \"steps\": 5,\n  \"tags\": [],\n  \"maybe\": \"\"\n}"
        );
        assert_eq!(skeleton(&schema(json!({"type": "object"}))), "{}");
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(parse_arguments("  "), Ok(JsonObject::new()));
        assert_eq!(
            parse_arguments("[1]"),
            Err("the arguments must be a JSON object, like {\"key\": \"value\"}".to_owned())
        );
        assert!(parse_arguments("{oops").is_err_and(|e| e.starts_with("not valid JSON")));
    }

    #[test]
    fn result_lines_and_preview() {
        let text: String = (0..300).map(|i| format!("line {i}\n")).collect();
        let result = ResultText::new(&text, false);
        assert_eq!(result.line_count(), 300);
        assert_eq!(result.line(0), "line 0");
        assert_eq!(result.line(299), "line 299");
        assert_eq!(result.line(300), "");
        let (preview, cut) = result.preview();
        assert!(cut);
        assert_eq!(preview.lines().count(), PREVIEW_LINES);
        let small = ResultText::new("a\nb", false);
        assert_eq!(small.line_count(), 2);
        assert_eq!(small.preview(), ("a\nb".to_owned(), false));
    }

    #[test]
    fn a_huge_single_line_is_previewed_in_part() {
        let result = ResultText::new(&"é".repeat(100_000), false);
        let (preview, cut) = result.preview();
        assert!(cut);
        assert!(preview.len() <= PREVIEW_BYTES);
    }

    #[test]
    fn result_text_is_sanitized() {
        let result = ResultText::new("\u{1b}[2Jclear", false);
        assert_eq!(&*result.text, "clear");
    }
}
