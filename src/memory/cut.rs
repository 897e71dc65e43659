//! Cutting one message that cannot fit whole (a huge tool result, a pasted file) down to a
//! number of tokens. Its beginning and its end are kept — the start of a result usually says
//! what it is, the end how it finished — and a marker in the middle says how much was taken
//! out, so neither the model nor someone reading the trace mistakes it for the whole thing.

use crate::llm::ChatMessage;

use super::counts::Counted;
use super::tokens;

/// What was taken out of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutSize {
    pub tokens: u64,
    pub chars: u64,
}

/// The marker put where text was taken out.
pub fn marker(cut: CutSize) -> String {
    format!(
        "\n\n[… {} tokens ({} characters) cut here by mcpomni to fit the model's context window …]\n\n",
        cut.tokens, cut.chars
    )
}

/// Roughly what the marker itself costs, so that the cut text with it fits.
pub const MARKER_TOKENS: u64 = 30;

/// How much of the text before the cut is kept (the rest of what is kept is its end).
const HEAD_SHARE: f64 = 2.0 / 3.0;

/// `message` (whose size `counted` holds) with its main text cut so that the whole message
/// costs about `keep` tokens (never less than the marker), or `None` when it has no text that
/// can be cut (an assistant message made only of tool calls: cutting a call's JSON would
/// break it).
pub fn cut_message(
    message: &ChatMessage,
    counted: &Counted,
    keep: u64,
) -> Option<(ChatMessage, CutSize)> {
    let text = tokens::main_text(message);
    if text.is_empty() {
        return None;
    }
    let around = counted.tokens.saturating_sub(counted.text);
    let room = keep.saturating_sub(around).saturating_sub(MARKER_TOKENS);
    let (kept, cut) = cut_text(text, counted.text, room);
    let cut_message = match message {
        ChatMessage::User(_) => ChatMessage::User(kept),
        ChatMessage::ToolResult {
            call_id,
            name,
            is_error,
            ..
        } => ChatMessage::ToolResult {
            call_id: call_id.clone(),
            name: name.clone(),
            content: kept,
            is_error: *is_error,
        },
        ChatMessage::Assistant {
            tool_calls,
            provider_state,
            ..
        } => ChatMessage::Assistant {
            text: kept,
            tool_calls: tool_calls.clone(),
            provider_state: provider_state.clone(),
        },
    };
    Some((cut_message, cut))
}

/// `text` (of `tokens` tokens) cut to about `room` tokens, with the marker in the middle.
/// Works in bytes (moved to character boundaries), so a text of megabytes is never walked
/// character by character; only what is kept is counted.
fn cut_text(text: &str, tokens: u64, room: u64) -> (String, CutSize) {
    let len = text.len();
    // Bytes per token vary along a text: start from the average and shrink until the kept
    // parts fit (a few rounds at most).
    let mut keep = if tokens == 0 {
        0
    } else {
        usize::try_from(u128::from(room) * len as u128 / u128::from(tokens))
            .unwrap_or(len)
            .min(len)
    };
    loop {
        let head_end = floor_boundary(text, (keep as f64 * HEAD_SHARE) as usize);
        let tail_start = ceil_boundary(text, len - (keep - keep.min(head_end))).max(head_end);
        let (head, tail) = (&text[..head_end], &text[tail_start..]);
        let kept_tokens = tokens::count(head).tokens + tokens::count(tail).tokens;
        if kept_tokens <= room || keep == 0 {
            let cut = CutSize {
                tokens: tokens.saturating_sub(kept_tokens),
                chars: text[head_end..tail_start].chars().count() as u64,
            };
            return (format!("{head}{}{tail}", marker(cut)), cut);
        }
        // Shrink in proportion to the overshoot, and by at least a byte.
        let scaled =
            usize::try_from(keep as u128 * u128::from(room) / u128::from(kept_tokens)).unwrap_or(0);
        keep = scaled.min(keep - 1);
    }
}

/// The nearest character boundary at or before `at`.
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The nearest character boundary at or after `at`.
fn ceil_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(content: String) -> ChatMessage {
        ChatMessage::ToolResult {
            call_id: "c1".into(),
            name: "files__read".into(),
            content,
            is_error: false,
        }
    }

    #[test]
    fn a_cut_message_fits_and_says_how_much_was_cut() {
        assert!(tokens::load_blocking());
        let text: String = (0..5_000)
            .map(|i| format!("line {i} of the log\n"))
            .collect();
        let message = result(text);
        let counted = Counted::of(&message);
        let before = counted.tokens;
        let (cut, size) = cut_message(&message, &counted, 1_000).expect("cut");
        let after = tokens::message_tokens(&cut).tokens;
        assert!(after <= 1_000 + 5, "{after} tokens after the cut");
        assert!(after >= 800, "not cut far more than needed: {after}");
        let ChatMessage::ToolResult {
            content, call_id, ..
        } = &cut
        else {
            panic!("still a tool result: {cut:?}");
        };
        assert_eq!(call_id, "c1");
        assert!(content.starts_with("line 0 of the log"));
        assert!(content.ends_with("line 4999 of the log\n"));
        assert!(content.contains(&marker(size)));
        assert!(size.tokens + 1_000 >= before - 50, "{size:?} of {before}");
        assert!(size.chars > 0);
    }

    #[test]
    fn nothing_but_the_marker_is_left_when_there_is_no_room() {
        let message = ChatMessage::user("é".repeat(900));
        let (cut, size) = cut_message(&message, &Counted::of(&message), 0).expect("cut");
        let ChatMessage::User(text) = cut else {
            panic!("a user message");
        };
        assert_eq!(text, marker(size));
        assert_eq!(size.chars, 900);
    }

    #[test]
    fn calls_without_text_are_not_cut() {
        let calls = ChatMessage::Assistant {
            text: String::new(),
            tool_calls: Vec::new(),
            provider_state: None,
        };
        assert_eq!(cut_message(&calls, &Counted::of(&calls), 10), None);
    }
}
