//! The token count of every message of one conversation, kept between requests so that each
//! message is counted once. Between turns the history only grows, but `/clear`, a fork, a
//! compaction or an edit in the debugger replace it: each kept count carries its message's
//! [`Fingerprint`], and counting starts again from the first message that no longer matches
//! (and from the first estimate, once the encoder is ready to count exactly).

use crate::agent::react_text;
use crate::llm::ChatMessage;

use super::tokens::{self, Fingerprint, MessageSize, TokenCount};

/// What is known about one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counted {
    fingerprint: Fingerprint,
    pub tokens: u64,
    /// The main text's share of `tokens` (what a cut can take away).
    pub text: u64,
    pub exact: bool,
    /// Whether the history may start here: a user message the user wrote (not a text-protocol
    /// observation or correction, which belong to the exchange before them).
    pub turn_start: bool,
}

impl Counted {
    pub fn of(message: &ChatMessage) -> Self {
        let MessageSize {
            total: TokenCount { tokens, exact },
            text,
        } = tokens::measure(message);
        Self {
            fingerprint: Fingerprint::of(message),
            tokens,
            text,
            exact,
            turn_start: is_turn_start(message),
        }
    }
}

/// Whether a history may start at `message`.
pub fn is_turn_start(message: &ChatMessage) -> bool {
    matches!(message, ChatMessage::User(text) if !react_text::is_protocol_message(text))
}

/// Counts every message (no cache).
pub fn count_all(messages: &[ChatMessage]) -> Vec<Counted> {
    messages.iter().map(Counted::of).collect()
}

/// The counts of one conversation's messages, in order.
#[derive(Debug, Clone, Default)]
pub struct MessageCounts {
    counted: Vec<Counted>,
}

impl MessageCounts {
    /// How many leading messages of `messages` have a count that still holds.
    pub fn valid_prefix(&self, messages: &[ChatMessage]) -> usize {
        let exact_now = tokens::ready();
        self.counted
            .iter()
            .zip(messages)
            .take_while(|(counted, message)| {
                (counted.exact || !exact_now) && counted.fingerprint == Fingerprint::of(message)
            })
            .count()
    }

    /// Keeps the first `valid` counts and adds `more` after them.
    pub fn replace_from(&mut self, valid: usize, more: Vec<Counted>) {
        self.counted.truncate(valid);
        self.counted.extend(more);
    }

    /// Brings the counts up to date with `messages` on this thread.
    pub fn sync(&mut self, messages: &[ChatMessage]) {
        let valid = self.valid_prefix(messages);
        self.replace_from(valid, count_all(&messages[valid..]));
    }

    /// The counts, one per message (as of the last sync).
    pub fn counted(&self) -> &[Counted] {
        &self.counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_messages_are_counted_again() {
        let mut counts = MessageCounts::default();
        let mut messages = vec![
            ChatMessage::user("one"),
            ChatMessage::assistant("two"),
            ChatMessage::user("three"),
        ];
        counts.sync(&messages);
        assert_eq!(counts.counted().len(), 3);
        messages.push(ChatMessage::assistant("four"));
        assert_eq!(
            counts.valid_prefix(&messages),
            3,
            "appending keeps every count"
        );
        counts.sync(&messages);
        messages[1] = ChatMessage::assistant("two, edited");
        assert_eq!(counts.valid_prefix(&messages), 1);
        messages.truncate(1);
        counts.sync(&messages);
        assert_eq!(
            counts.counted().len(),
            1,
            "a shorter history drops the rest"
        );
        counts.sync(&[]);
        assert!(counts.counted().is_empty());
    }

    #[test]
    fn observations_and_corrections_are_not_turn_starts() {
        assert!(is_turn_start(&ChatMessage::user("what is the weather?")));
        assert!(!is_turn_start(&ChatMessage::assistant("sunny")));
        let observation = react_text::observation("demo__echo", "hi", false);
        assert!(!is_turn_start(&ChatMessage::user(observation)));
        let correction = react_text::correction(&react_text::ParseError::NoMove);
        assert!(!is_turn_start(&ChatMessage::user(correction)));
    }
}
