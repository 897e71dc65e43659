//! Chat pane state: the conversation (append-only entries with stable ids), the input box and
//! the scroll position. Without an LLM configured, the pane says exactly how to configure one
//! and a sent message is answered with that same guidance rather than silently dropped.

use std::cell::{Cell, RefCell};

use ratatui_textarea::TextArea;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    /// A tool call the agent made (and how it ended).
    Tool,
    /// Guidance and notices from mcpomni itself.
    Notice,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatEntry {
    pub id: u64,
    pub role: Role,
    pub text: String,
}

/// Wrapped heights per entry for one width; filled lazily by the view, reset on width change.
#[derive(Debug, Default)]
pub struct HeightCache {
    pub width: u16,
    /// `0` = not measured yet (every real entry is at least one line high).
    pub heights: Vec<u16>,
}

pub struct ChatState {
    pub input: TextArea<'static>,
    pub entries: Vec<ChatEntry>,
    /// Lines scrolled up from the newest line (0 = follow the conversation).
    pub scroll: usize,
    /// What the status line says about the model, e.g. `openai/gpt-4o-mini`; `None` = no LLM.
    pub model: Option<String>,
    pub heights: RefCell<HeightCache>,
    /// The largest useful `scroll`, as of the last frame (the view knows the wrapped height).
    pub max_scroll: Cell<usize>,
    next_id: u64,
}

impl std::fmt::Debug for ChatState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatState")
            .field("entries", &self.entries.len())
            .field("scroll", &self.scroll)
            .field("model", &self.model)
            .finish()
    }
}

/// How the dashboard names the built-in config.
pub fn bundled_label() -> &'static str {
    "bundled config"
}

/// The guidance shown when no LLM is configured.
pub fn no_llm_guidance(config_label: &str) -> String {
    let target = if config_label == bundled_label() {
        "a servers_config.json (in this directory, in ~/.config/mcpomni/, or given with \
         --config; start from config/example.full.json)"
            .to_owned()
    } else {
        config_label.to_owned()
    };
    format!(
        "No LLM is configured, so chat cannot answer yet. To configure one, add an \"LLM\" \
         section to {target}, for example:\n\n  \"LLM\": {{\"provider\": \"openai\", \
         \"model\": \"gpt-4o-mini\"}}\n\nand put your key in the environment or in .env as \
         LLM_API_KEY=... (any OpenAI-compatible server works with \"base_url\"; Anthropic and \
         Gemini are supported too). Meanwhile the Servers and Tools panes work without one."
    )
}

impl ChatState {
    pub fn new(model: Option<String>) -> Self {
        let mut input = TextArea::default();
        input.set_placeholder_text("Ask something… (Enter sends, Esc leaves the input)");
        Self {
            input,
            entries: Vec::new(),
            scroll: 0,
            model,
            heights: RefCell::new(HeightCache::default()),
            max_scroll: Cell::new(usize::MAX),
            next_id: 0,
        }
    }

    pub fn push(&mut self, role: Role, text: impl Into<String>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(ChatEntry {
            id,
            role,
            text: text.into(),
        });
        id
    }

    /// Appends `text` to entry `id` (a streaming answer).
    pub fn append_to(&mut self, id: u64, text: &str) {
        if let Some(index) = self.index_of(id) {
            self.entries[index].text.push_str(text);
            self.remeasure(index);
        }
    }

    /// Replaces the text of entry `id`.
    pub fn set_text(&mut self, id: u64, text: String) {
        if let Some(index) = self.index_of(id) {
            self.entries[index].text = text;
            self.remeasure(index);
        }
    }

    pub fn text_of(&self, id: u64) -> Option<&str> {
        self.index_of(id).map(|i| self.entries[i].text.as_str())
    }

    /// Forgets the conversation shown (the welcome notice stays).
    pub fn clear(&mut self) {
        self.entries.truncate(1);
        self.heights.borrow_mut().heights.clear();
        self.scroll = 0;
    }

    fn index_of(&self, id: u64) -> Option<usize> {
        // Ids grow with position, and changes are nearly always to recent entries.
        self.entries.iter().rposition(|e| e.id == id)
    }

    /// The entry's wrapped height changed: drop its memo.
    fn remeasure(&mut self, index: usize) {
        if let Some(height) = self.heights.borrow_mut().heights.get_mut(index) {
            *height = 0;
        }
    }

    /// Takes the typed message out of the input (trimmed); `None` when it is blank.
    pub fn take_input(&mut self) -> Option<String> {
        let text = self.input.lines().join("\n");
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return None;
        }
        let message = trimmed.to_owned();
        self.input = {
            let mut fresh = TextArea::default();
            fresh.set_placeholder_text(self.input.placeholder_text().to_owned());
            fresh
        };
        Some(message)
    }

    pub fn scroll_up(&mut self, lines: usize) {
        self.scroll = self.scroll.saturating_add(lines).min(self.max_scroll.get());
    }

    pub fn scroll_down(&mut self, lines: usize) {
        self.scroll = self.scroll.saturating_sub(lines);
    }
}
