//! Counting tokens: OpenAI's o200k_base encoding (tiktoken-rs), loaded once, lazily and off
//! the caller's thread, because building the encoder takes a few hundred milliseconds in a
//! release build (much longer in a debug one). Until it is ready every count is an estimate
//! from the text's length, marked inexact so that it is counted again once the encoder is
//! there. The counts are exact only for OpenAI's models; `context.rs` scales them by what the
//! provider reports.
//!
//! Also what a message costs beyond its text (role markers, call ids, the JSON of tool
//! arguments), and a cheap fingerprint that tells whether a message changed without reading
//! all of it (`counts.rs` keeps one per counted message).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tiktoken_rs::CoreBPE;

use crate::llm::{ChatMessage, ToolSpec};

/// What every message costs besides its content: the role and the separators around it
/// (OpenAI's published rule of thumb is 3–4 per message).
pub const MESSAGE_OVERHEAD: u64 = 4;

/// What each tool call or tool definition costs besides its name and JSON.
const CALL_OVERHEAD: u64 = 8;

/// The encoder once loaded; `None` inside when loading failed (the estimate stays in use).
static ENCODER: OnceLock<Option<CoreBPE>> = OnceLock::new();
/// Whether a load was started, so that only one thread ever builds the encoder.
static WARMING: AtomicBool = AtomicBool::new(false);

/// A token count, and whether it came from the encoder (or from the length estimate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCount {
    pub tokens: u64,
    pub exact: bool,
}

impl TokenCount {
    fn add(self, other: TokenCount) -> TokenCount {
        TokenCount {
            tokens: self.tokens.saturating_add(other.tokens),
            exact: self.exact && other.exact,
        }
    }

    fn plus(self, tokens: u64) -> TokenCount {
        TokenCount {
            tokens: self.tokens.saturating_add(tokens),
            exact: self.exact,
        }
    }
}

/// Starts loading the encoder on a thread of its own, once; returns at once. A plain thread
/// rather than tokio's blocking pool: a runtime waits for its blocking tasks when it shuts
/// down, and a short `mcpomni run` should not wait for an encoder it never needed.
pub fn warm_up() {
    if ENCODER.get().is_some() || WARMING.swap(true, Ordering::AcqRel) {
        return;
    }
    let started = std::thread::Builder::new()
        .name("tokenizer-load".into())
        .spawn(|| {
            encoder_blocking();
        });
    if started.is_err() {
        // No thread to spare: a later call tries again; counts stay estimates meanwhile.
        WARMING.store(false, Ordering::Release);
    }
}

/// Loads the encoder on this thread if it is not loaded yet (benches and tests; everything
/// else calls [`warm_up`]). True when it is usable.
pub fn load_blocking() -> bool {
    WARMING.store(true, Ordering::Release);
    encoder_blocking().is_some()
}

fn encoder_blocking() -> Option<&'static CoreBPE> {
    ENCODER
        .get_or_init(|| match tiktoken_rs::o200k_base() {
            Ok(encoder) => Some(encoder),
            Err(error) => {
                tracing::warn!(%error, "the token encoder did not load; token counts stay estimates");
                None
            }
        })
        .as_ref()
}

/// The encoder, if it is ready; starts loading it otherwise. Never blocks.
fn encoder() -> Option<&'static CoreBPE> {
    match ENCODER.get() {
        Some(encoder) => encoder.as_ref(),
        None => {
            warm_up();
            None
        }
    }
}

/// Whether counts are exact now (the encoder is loaded).
pub fn ready() -> bool {
    matches!(ENCODER.get(), Some(Some(_)))
}

/// The tokens of `text`: exact once the encoder is loaded, an estimate before.
pub fn count(text: &str) -> TokenCount {
    if text.is_empty() {
        return TokenCount {
            tokens: 0,
            exact: true,
        };
    }
    match encoder() {
        Some(encoder) => TokenCount {
            tokens: u64::try_from(encoder.encode_ordinary(text).len()).unwrap_or(u64::MAX),
            exact: true,
        },
        None => TokenCount {
            tokens: estimate(text),
            exact: false,
        },
    }
}

/// A length-based guess, on the high side: a token per 3 bytes. English prose runs about 4
/// bytes a token and pretty-printed JSON about 3 (where bytes/4 falls short by a third), so
/// until the encoder is ready the history is cut a little early rather than too late.
pub fn estimate(text: &str) -> u64 {
    u64::try_from(text.len().div_ceil(3)).unwrap_or(u64::MAX)
}

/// What one message costs in a request, and how much of that is its main text (the part
/// that can be cut: the user's text, the assistant's text, a tool result's content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSize {
    pub total: TokenCount,
    /// The main text's tokens (part of `total`).
    pub text: u64,
}

/// What one message costs in a request: its text, its tool calls (name and arguments as
/// JSON) or its tool result, plus [`MESSAGE_OVERHEAD`].
pub fn message_tokens(message: &ChatMessage) -> TokenCount {
    measure(message).total
}

/// [`message_tokens`], with the main text's share.
pub fn measure(message: &ChatMessage) -> MessageSize {
    let base = TokenCount {
        tokens: MESSAGE_OVERHEAD,
        exact: true,
    };
    let text = count(main_text(message));
    let total = match message {
        ChatMessage::User(_) => base.add(text),
        ChatMessage::Assistant { tool_calls, .. } => {
            tool_calls.iter().fold(base.add(text), |sum, call| {
                let arguments = serde_json::to_string(&call.arguments).unwrap_or_default();
                sum.add(count(&call.name))
                    .add(count(&arguments))
                    .plus(CALL_OVERHEAD)
            })
        }
        ChatMessage::ToolResult { name, .. } => base.add(count(name)).add(text).plus(CALL_OVERHEAD),
    };
    MessageSize {
        total,
        text: text.tokens,
    }
}

/// The part of a message that can be cut when it is too long.
pub fn main_text(message: &ChatMessage) -> &str {
    match message {
        ChatMessage::User(text) | ChatMessage::Assistant { text, .. } => text,
        ChatMessage::ToolResult { content, .. } => content,
    }
}

/// What the tool definitions of a request cost: each one's name, description and JSON
/// Schema, plus a little for the wrapping.
pub fn tools_tokens(tools: &[ToolSpec]) -> TokenCount {
    tools.iter().fold(TokenCount::default(), |sum, tool| {
        let schema = serde_json::to_string(&tool.parameters).unwrap_or_default();
        sum.add(count(&tool.name))
            .add(count(&tool.description))
            .add(count(&schema))
            .plus(CALL_OVERHEAD)
    })
}

/// Tells messages apart without reading all of them: the kind, the length of every part,
/// and the first and last bytes of the main text (plus the calls' ids and names, which are
/// short). Two messages that differ only in the middle of a long text of the same length
/// look the same — their counts differ by a token or two at most, and the count is an
/// estimate anyway; anything that changes a message's length is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    kind: u8,
    len: usize,
    head: u64,
    tail: u64,
    extra: u64,
}

impl Fingerprint {
    pub fn of(message: &ChatMessage) -> Self {
        match message {
            ChatMessage::User(text) => Self::text(0, text, 0),
            ChatMessage::Assistant {
                text, tool_calls, ..
            } => {
                let extra = tool_calls
                    .iter()
                    .fold(tool_calls.len() as u64, |hash, call| {
                        let shape = value_shape(&call.arguments);
                        mix(
                            mix(
                                hash,
                                crate::hash::fnv1a(call.id.bytes().chain(call.name.bytes())),
                            ),
                            shape,
                        )
                    });
                Self::text(1, text, extra)
            }
            ChatMessage::ToolResult {
                call_id,
                name,
                content,
                is_error,
            } => {
                let extra = crate::hash::fnv1a(call_id.bytes().chain(name.bytes()));
                Self::text(2 + u8::from(*is_error), content, extra)
            }
        }
    }

    fn text(kind: u8, text: &str, extra: u64) -> Self {
        let bytes = text.as_bytes();
        Self {
            kind,
            len: bytes.len(),
            head: word(bytes.get(..8).unwrap_or(bytes)),
            tail: word(bytes.get(bytes.len().saturating_sub(8)..).unwrap_or(bytes)),
            extra,
        }
    }
}

/// Up to 8 bytes as one number.
fn word(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u64::from_le_bytes(out)
}

fn mix(hash: u64, value: u64) -> u64 {
    (hash ^ value)
        .wrapping_mul(0x0100_0000_01b3)
        .rotate_left(17)
}

/// The sizes in a JSON value (string lengths, key lengths, how many items), which change
/// when the value is edited in almost every way, without serialising it.
fn value_shape(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match value {
        Value::Null => 1,
        Value::Bool(b) => 2 + u64::from(*b),
        Value::Number(n) => mix(4, crate::hash::fnv1a(n.to_string().into_bytes())),
        Value::String(s) => mix(5, s.len() as u64),
        Value::Array(items) => items.iter().fold(mix(6, items.len() as u64), |hash, item| {
            mix(hash, value_shape(item))
        }),
        Value::Object(map) => map.iter().fold(mix(7, map.len() as u64), |hash, (k, v)| {
            mix(mix(hash, k.len() as u64), value_shape(v))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;
    use serde_json::json;

    #[test]
    fn the_estimate_errs_on_the_high_side_of_prose() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("abc"), 1);
        assert_eq!(estimate("abcd"), 2);
    }

    #[test]
    fn the_encoder_counts_exactly_once_loaded() {
        assert!(load_blocking());
        assert!(ready());
        let counted = count("Hello, world!");
        assert!(counted.exact);
        // o200k_base: "Hello" "," " world" "!"
        assert_eq!(counted.tokens, 4);
        assert_eq!(
            count(""),
            TokenCount {
                tokens: 0,
                exact: true
            }
        );
    }

    #[test]
    fn a_message_costs_its_text_and_calls_plus_overhead() {
        assert!(load_blocking());
        let user = message_tokens(&ChatMessage::user("Hello, world!"));
        assert_eq!(user.tokens, 4 + MESSAGE_OVERHEAD);
        let with_call = message_tokens(&ChatMessage::Assistant {
            text: "Hello, world!".into(),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "demo__echo".into(),
                arguments: json!({"message": "hi"}),
            }],
            provider_state: None,
        });
        assert!(
            with_call.tokens > user.tokens + CALL_OVERHEAD,
            "{with_call:?}"
        );
    }

    #[test]
    fn a_fingerprint_sees_changes_of_length_ends_and_calls() {
        let base = ChatMessage::user("the quick brown fox jumps over the lazy dog");
        let same = ChatMessage::user("the quick brown fox jumps over the lazy dog");
        assert_eq!(Fingerprint::of(&base), Fingerprint::of(&same));
        for other in [
            ChatMessage::user("the quick brown fox jumps over the lazy dogs"),
            ChatMessage::user("The quick brown fox jumps over the lazy dog"),
            ChatMessage::user("the quick brown fox jumps over the lazy cat"),
            ChatMessage::assistant("the quick brown fox jumps over the lazy dog"),
        ] {
            assert_ne!(Fingerprint::of(&base), Fingerprint::of(&other), "{other:?}");
        }
        let call = |arguments| ChatMessage::Assistant {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "demo__echo".into(),
                arguments,
            }],
            provider_state: None,
        };
        assert_ne!(
            Fingerprint::of(&call(json!({"message": "hi"}))),
            Fingerprint::of(&call(json!({"message": "hello"})))
        );
    }
}
