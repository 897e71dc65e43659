//! The agent's session commands: the dashboard's `/sessions` picker (list, resume, delete),
//! `/clear` (a new session), `/clear_history`, `/save_history:`, `/load_history:`, `/memory`
//! and `/history` (`/compact` is in `compact.rs`). The actor owns the conversation and the writer of its session, so a switch
//! happens between turns, never under one: while a turn or a compaction runs, the command is
//! refused with a note.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::AgentActor;
use crate::llm::ChatMessage;
use crate::memory::writer::{self, SaveState, SessionSink};
use crate::memory::{EntryBody, Loaded, SessionEntry, SessionId, SharedStore, history};
use crate::protocol::AgentEvent;
use crate::protocol::session::{SessionCommand, SessionEvent};

/// The receiving end of a store that comes later (see `AgentSettings::late_store`);
/// cloning shares it, and the agent takes it when it starts.
#[derive(Clone, Default)]
pub struct LateStore(Arc<Mutex<Option<oneshot::Receiver<SharedStore>>>>);

impl LateStore {
    pub fn new(store: oneshot::Receiver<SharedStore>) -> Self {
        Self(Arc::new(Mutex::new(Some(store))))
    }

    pub(super) fn take(&self) -> Option<oneshot::Receiver<SharedStore>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl std::fmt::Debug for LateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LateStore")
    }
}

/// Resolves when the late store arrives; never, when there is none (or it gave up).
pub(super) async fn late_store(
    waiting: &mut Option<oneshot::Receiver<SharedStore>>,
) -> SharedStore {
    let arrived = match waiting {
        Some(receiver) => receiver.await.ok(),
        None => None,
    };
    *waiting = None;
    match arrived {
        Some(store) => store,
        None => std::future::pending().await,
    }
}

impl AgentActor {
    fn store(&self) -> Option<&SharedStore> {
        self.settings.store.as_ref()
    }

    /// The store, or `None` after telling the user there is none.
    async fn store_or_say(&self) -> Option<SharedStore> {
        let store = self.store().cloned();
        if store.is_none() {
            self.note(NOT_SAVED).await;
        }
        store
    }

    pub(super) fn current_session(&self) -> Option<&SessionId> {
        self.settings.session.as_ref().map(|sink| &sink.id)
    }

    pub(super) async fn session_event(&self, event: SessionEvent) {
        let _ = self.events.send(AgentEvent::Session(event)).await;
    }

    pub(super) async fn note(&self, text: impl Into<String>) {
        self.session_event(SessionEvent::Note(text.into())).await;
    }

    /// A turn or a compaction is running: the conversation may not change under it.
    fn busy(&self) -> bool {
        self.running.is_some() || self.compacting.is_some()
    }

    pub(super) async fn on_session_command(&mut self, command: SessionCommand) {
        let changes_conversation = matches!(
            command,
            SessionCommand::Resume(_)
                | SessionCommand::New
                | SessionCommand::ClearHistory
                | SessionCommand::Load(_)
                | SessionCommand::Compact
        );
        if changes_conversation && self.busy() {
            self.note("Not now: a turn is running. Press Esc to stop it, or wait for it.")
                .await;
            return;
        }
        match command {
            SessionCommand::List => self.list_sessions().await,
            SessionCommand::Resume(id) => self.resume(id).await,
            SessionCommand::Delete(id) => self.delete(id).await,
            SessionCommand::New => self.start_new("New session").await,
            SessionCommand::ClearHistory => self.clear_history().await,
            SessionCommand::Save(path) => self.save_history(&path).await,
            SessionCommand::Load(path) => self.load_history(&path).await,
            SessionCommand::Info => self.memory_info().await,
            SessionCommand::History => self.show_history().await,
            SessionCommand::Compact => self.start_compaction().await,
        }
    }

    /// The store could not be opened at start and now can: the conversation so far goes to
    /// a new session in it, and every turn from now on.
    pub(super) async fn attach_store(&mut self, store: SharedStore) {
        if self.settings.session.is_some() {
            return;
        }
        self.settings.store = Some(store.clone());
        let id = SessionId::generate();
        if let Err(error) = store.open(&id).await {
            self.note(format!("The memory store answers again, but: {error}."))
                .await;
            return;
        }
        let (sink, _) = writer::spawn(store.clone(), id.clone());
        sink.write(
            self.history
                .iter()
                .cloned()
                .map(SessionEntry::message)
                .collect(),
        );
        self.watch_saves(&sink);
        self.settings.session = Some(sink);
        self.session_event(SessionEvent::Switched {
            id: Some(id.clone()),
            history: self.history.clone(),
            said: Vec::new(),
            steps: Vec::new(),
            redraw: false,
            note: format!(
                "The {} memory store can be used now: this conversation is saved as session {id}.",
                store.kind().label()
            ),
        })
        .await;
    }

    async fn list_sessions(&self) {
        let Some(store) = self.store() else {
            self.note(NOT_SAVED).await;
            return;
        };
        match store.list().await {
            Ok(sessions) => {
                self.session_event(SessionEvent::Listed {
                    sessions,
                    current: self.current_session().cloned(),
                })
                .await;
            }
            Err(error) => self.note(format!("Cannot list sessions: {error}")).await,
        }
    }

    async fn resume(&mut self, id: SessionId) {
        let Some(store) = self.store_or_say().await else {
            return;
        };
        if self.current_session() == Some(&id) {
            self.note(format!("Session {id} is the one open here."))
                .await;
            return;
        }
        match store.open(&id).await {
            Ok(loaded) => {
                let note = resumed_note(&id, &loaded);
                self.switch_to(store, id, &loaded, note).await;
            }
            Err(error) => self.note(format!("Not resumed: {error}.")).await,
        }
    }

    async fn delete(&mut self, id: SessionId) {
        let Some(store) = self.store_or_say().await else {
            return;
        };
        if self.current_session() == Some(&id) {
            self.note(format!(
                "Session {id} is the one open here: /clear_history deletes it."
            ))
            .await;
            return;
        }
        match store.delete(&id).await {
            Ok(true) => self.note(format!("Deleted session {id}.")).await,
            Ok(false) => self.note(format!("There is no session {id}.")).await,
            Err(error) => self.note(format!("Not deleted: {error}.")).await,
        }
        self.list_sessions().await;
    }

    /// Forgets the conversation and writes to a new session from now on.
    async fn start_new(&mut self, what: &str) {
        self.history.clear();
        let Some(store) = self.store().cloned() else {
            self.session_event(SessionEvent::Switched {
                id: None,
                history: Vec::new(),
                said: Vec::new(),
                steps: Vec::new(),
                redraw: true,
                note: format!("{what} (not saved: {NOT_SAVED_WHY})."),
            })
            .await;
            return;
        };
        // Never the id being left: `generate` numbers a process's later ids.
        let id = SessionId::generate();
        match store.open(&id).await {
            Ok(loaded) => {
                let note = format!("{what}: {id}.");
                self.switch_to(store, id, &loaded, note).await;
            }
            Err(error) => {
                // The old sink is dropped so that nothing more lands in the cleared session.
                self.settings.session = None;
                self.session_event(SessionEvent::Switched {
                    id: None,
                    history: Vec::new(),
                    said: Vec::new(),
                    steps: Vec::new(),
                    redraw: true,
                    note: format!("{what}, not saved: {error}."),
                })
                .await;
            }
        }
    }

    async fn clear_history(&mut self) {
        let (Some(store), Some(sink)) = (self.store().cloned(), self.settings.session.take())
        else {
            self.start_new("Cleared").await;
            return;
        };
        // Whatever is still on its way is written first, so the delete takes all of it.
        sink.flush().await;
        let id = sink.id.clone();
        let deleted = store.delete(&id).await;
        drop(sink);
        let what = match deleted {
            Ok(_) => format!("Deleted session {id}; new session"),
            Err(error) => format!("Session {id} could not be deleted ({error}); new session"),
        };
        self.start_new(&what).await;
    }

    /// Writes to session `id` from now on; its conversation and steps replace this one's.
    async fn switch_to(
        &mut self,
        store: SharedStore,
        id: SessionId,
        loaded: &Loaded,
        note: String,
    ) {
        // Dropping the old sink lets its writer finish what is pending and release it.
        self.settings.session = None;
        let steps = history::steps(&loaded.entries);
        if let Some(last) = steps.iter().map(|step| step.id).max() {
            self.ids.steps_after(last);
        }
        self.history = history::conversation(&loaded.entries);
        let (sink, _) = writer::spawn(store, id.clone());
        self.watch_saves(&sink);
        self.settings.session = Some(sink);
        let mut note = note;
        for warning in &loaded.warnings {
            note.push_str(&format!("\nWarning: {warning}"));
        }
        self.session_event(SessionEvent::Switched {
            id: Some(id),
            history: self.history.clone(),
            said: history::said(&loaded.entries),
            steps,
            redraw: true,
            note,
        })
        .await;
    }

    /// Tells the dashboard whenever the session's save state changes (the status bar says
    /// "not saved" while the store is away).
    pub(super) fn watch_saves(&self, sink: &SessionSink) {
        let mut state = sink.state();
        let events = self.events.clone();
        tokio::spawn(async move {
            while state.changed().await.is_ok() {
                let now = state.borrow_and_update().clone();
                let _ = events
                    .send(AgentEvent::Session(SessionEvent::Saved(now)))
                    .await;
            }
        });
    }

    async fn save_history(&self, path: &Path) {
        let entries: Vec<SessionEntry> = self
            .history
            .iter()
            .cloned()
            .map(SessionEntry::message)
            .collect();
        let text = match serde_json::to_string_pretty(&entries) {
            Ok(text) => text,
            Err(error) => {
                self.note(format!("Not saved: {error}.")).await;
                return;
            }
        };
        let path = path.to_owned();
        let shown = path.display().to_string();
        let written = tokio::task::spawn_blocking(move || write_private(&path, &text)).await;
        match written {
            Ok(Ok(())) => {
                self.note(format!(
                    "Saved {} to {shown}.",
                    crate::text::plural(entries.len(), "message", "messages")
                ))
                .await;
            }
            Ok(Err(error)) => self.note(format!("Cannot write {shown}: {error}.")).await,
            Err(_) => {
                self.note(format!("Cannot write {shown}: the task failed."))
                    .await
            }
        }
    }

    async fn load_history(&mut self, path: &Path) {
        let shown = path.display().to_string();
        let owned = path.to_owned();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(owned)).await;
        let text = match read {
            Ok(Ok(text)) => text,
            Ok(Err(error)) => {
                self.note(format!("Cannot read {shown}: {error}.")).await;
                return;
            }
            Err(_) => {
                self.note(format!("Cannot read {shown}: the task failed."))
                    .await;
                return;
            }
        };
        let entries = match parse_saved_history(&text) {
            Ok(entries) => entries,
            Err(why) => {
                self.note(format!("Cannot load {shown}: {why}.")).await;
                return;
            }
        };
        let loaded = history::conversation(&entries);
        let said = loaded.clone();
        let count = loaded.len();
        // The loaded conversation becomes this session's. Anything said before it is replaced
        // by a summary entry naming the file, so a resume rebuilds exactly this history.
        let mut stored = Vec::with_capacity(count + 1);
        let mut history = Vec::with_capacity(count + 1);
        if !self.history.is_empty() {
            let note =
                format!("(the conversation so far was replaced by the one loaded from {shown})");
            history.push(history::summary_message(&note));
            stored.push(SessionEntry::now(EntryBody::Summary {
                text: note,
                replaces: u64::try_from(self.history.len()).unwrap_or(u64::MAX),
            }));
        }
        stored.extend(loaded.iter().cloned().map(SessionEntry::message));
        history.extend(loaded);
        if let Some(sink) = &self.settings.session {
            sink.write(stored);
        }
        self.history = history;
        self.session_event(SessionEvent::Switched {
            id: self.current_session().cloned(),
            history: self.history.clone(),
            said,
            steps: Vec::new(),
            redraw: true,
            note: format!(
                "Loaded {} from {shown}.",
                crate::text::plural(count, "message", "messages")
            ),
        })
        .await;
    }

    async fn memory_info(&self) {
        let tokens = self.history.iter().fold(0u64, |sum, message| {
            sum.saturating_add(crate::memory::tokens::message_tokens(message).tokens)
        });
        let size = format!(
            "{} (~{} tokens)",
            crate::text::plural(self.history.len(), "message", "messages"),
            crate::agent::usage::compact(tokens)
        );
        let text = match (self.store(), &self.settings.session) {
            (Some(store), Some(sink)) => {
                let saved = match &*sink.state().borrow() {
                    SaveState::Saved => "everything is saved".to_owned(),
                    SaveState::NotSaved { pending, reason } => {
                        format!("{pending} entries not saved yet ({reason})")
                    }
                };
                format!(
                    "Memory: the {} store at {}. Session {}: {size} in the model's context; {saved}.",
                    store.kind().label(),
                    store.location(),
                    sink.id
                )
            }
            (Some(store), None) => format!(
                "Memory: the {} store at {} could not be used; this conversation ({size}) is \
                 not saved.",
                store.kind().label(),
                store.location()
            ),
            (None, _) => format!("Memory: {NOT_SAVED_WHY}; this conversation has {size}."),
        };
        self.note(text).await;
    }

    async fn show_history(&self) {
        if self.history.is_empty() {
            self.note("The model's context is empty.").await;
            return;
        }
        let mut text = format!(
            "The model's context: {}.",
            crate::text::plural(self.history.len(), "message", "messages")
        );
        for (index, message) in self.history.iter().enumerate() {
            text.push_str(&format!(
                "\n{:>4}. {}",
                index + 1,
                history::describe(message)
            ));
        }
        self.note(text).await;
    }
}

/// Why there is no store.
const NOT_SAVED_WHY: &str = "no memory store is in use";
const NOT_SAVED: &str = "Sessions are not available: no memory store is in use.";

fn resumed_note(id: &SessionId, loaded: &Loaded) -> String {
    let messages = loaded
        .entries
        .iter()
        .filter(|entry| matches!(entry.body, EntryBody::Message { .. }))
        .count();
    format!(
        "Resumed session {id} ({}).",
        crate::text::plural(messages, "message", "messages")
    )
}

/// A file written by `/save_history:` (JSON session entries, as `sessions export --format
/// json` writes them) or, from the original, a JSON array of `{"role", "content"}` messages.
fn parse_saved_history(text: &str) -> Result<Vec<SessionEntry>, String> {
    if let Ok(entries) = serde_json::from_str::<Vec<SessionEntry>>(text) {
        return Ok(entries);
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|error| format!("not a saved history (a JSON array of messages): {error}"))?;
    let mut entries = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let role = value.get("role").and_then(|r| r.as_str());
        let content = value.get("content").and_then(|c| c.as_str());
        let message = match (role, content) {
            (Some("user"), Some(text)) => ChatMessage::user(text),
            (Some("assistant"), Some(text)) => ChatMessage::assistant(text),
            (Some("system"), _) => continue,
            _ => {
                return Err(format!(
                    "item {} is neither a session entry nor a {{\"role\", \"content\"}} message",
                    index + 1
                ));
            }
        };
        entries.push(SessionEntry::message(message));
    }
    Ok(entries)
}

/// Writes `text` to `path`, readable by its owner only (a conversation may hold secrets).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = crate::memory::file::private::open(
        path,
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
    )?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_histories_load_in_both_formats_and_junk_is_named() {
        let ours = serde_json::to_string(&vec![SessionEntry::message(ChatMessage::user("hi"))])
            .expect("json");
        assert_eq!(parse_saved_history(&ours).expect("ours").len(), 1);
        let original = r#"[{"role":"system","content":"s"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]"#;
        let entries = parse_saved_history(original).expect("original");
        assert_eq!(
            history::conversation(&entries),
            vec![ChatMessage::user("hi"), ChatMessage::assistant("hello")]
        );
        let error =
            parse_saved_history(r#"[{"role":"user","content":"hi"},{"x":1}]"#).expect_err("junk");
        assert!(error.contains("item 2"), "{error}");
        assert!(parse_saved_history("nope").is_err());
    }
}
