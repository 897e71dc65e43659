//! Tools pane state: the catalog's tools, a filter, the selection, and highlighted input
//! schemas. Highlighting runs off the UI thread; until its lines arrive the view shows the
//! schema plain. Highlights are keyed by tool and schema text, so a changed schema is
//! highlighted again.
//!
//! The selected tool's schema text and key are worked out once, when the catalog or the
//! selection changes — not for every message or frame.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use ratatui::text::Line;

use crate::runtime::catalog::{Catalog, ToolEntry};

/// Highlighted schemas kept; beyond this the least recently selected one goes.
const HIGHLIGHT_CACHE: usize = 256;

/// The selected tool's schema as the details show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedSchema {
    /// Index into `catalog.tools`.
    pub tool: usize,
    pub text: Arc<str>,
    pub key: String,
}

#[derive(Debug, Default)]
pub struct ToolsState {
    pub catalog: Arc<Catalog>,
    /// What each server's tool definitions cost in every request to the model (counted when
    /// the catalog changes; an estimate until the token encoder is loaded).
    pub schema_tokens: std::collections::HashMap<
        crate::runtime::messages::ServerName,
        crate::memory::tokens::TokenCount,
    >,
    pub filter: String,
    /// The keyboard is in the filter.
    pub filtering: bool,
    /// Indices into `catalog.tools` that match the filter, best match first (see
    /// [`match_rank`]), catalog order among equals.
    pub visible: Vec<usize>,
    /// Index into `visible`.
    pub selected: usize,
    pub detail_scroll: u16,
    highlighted: HashMap<String, Arc<Vec<Line<'static>>>>,
    /// Keys of `highlighted`, least recently selected first.
    recency: VecDeque<String>,
    pending: HashSet<String>,
    /// Keys whose highlighting failed: shown plain, not asked for again.
    failed: HashSet<String>,
    selected_schema: Option<SelectedSchema>,
}

/// A schema waiting to be highlighted.
#[derive(Debug, Clone, PartialEq)]
pub struct HighlightJob {
    pub key: String,
    pub text: String,
}

/// Each server's tool definitions as the model is offered them, counted.
fn schema_tokens(
    catalog: &Catalog,
) -> std::collections::HashMap<
    crate::runtime::messages::ServerName,
    crate::memory::tokens::TokenCount,
> {
    let specs = crate::agent::tool_specs(catalog);
    let mut by_server: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
    for (tool, spec) in catalog.tools.iter().zip(specs) {
        by_server.entry(tool.server.clone()).or_default().push(spec);
    }
    by_server
        .into_iter()
        .map(|(server, specs)| (server, crate::memory::tokens::tools_tokens(&specs)))
        .collect()
}

impl ToolsState {
    /// Replaces the catalog, keeping the selected tool selected if it still exists.
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        let keep = self.selected_name();
        self.catalog = catalog;
        self.schema_tokens = schema_tokens(&self.catalog);
        self.refilter();
        self.reselect(keep);
        self.schema_changed();
    }

    /// The filter text changed: the best match is selected, as in any fuzzy finder.
    pub fn filter_edited(&mut self) {
        self.refilter();
        self.selected = 0;
        self.schema_changed();
    }

    /// The filter was cleared: the tool that was selected stays selected in the full list.
    pub fn filter_cleared(&mut self) {
        let keep = self.selected_name();
        self.filter.clear();
        self.refilter();
        self.reselect(keep);
        self.schema_changed();
    }

    fn selected_name(&self) -> Option<String> {
        self.selected_tool().map(|t| t.qualified_name.clone())
    }

    /// Selects the tool called `name` if it is visible.
    fn reselect(&mut self, name: Option<String>) {
        if let Some(name) = name
            && let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.catalog.tools[i].qualified_name == name)
        {
            self.selected = pos;
        }
    }

    pub fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        let mut ranked: Vec<(u8, usize)> = self
            .catalog
            .tools
            .iter()
            .enumerate()
            .filter_map(|(i, tool)| Some((match_rank(tool, &needle)?, i)))
            .collect();
        // Stable: catalog order among tools that match equally well.
        ranked.sort_by_key(|&(rank, _)| rank);
        self.visible = ranked.into_iter().map(|(_, i)| i).collect();
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        self.detail_scroll = 0;
    }

    pub fn selected_tool(&self) -> Option<&ToolEntry> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.catalog.tools.get(i))
    }

    pub fn select(&mut self, index: usize) {
        let index = index.min(self.visible.len().saturating_sub(1));
        if index != self.selected {
            self.selected = index;
            self.detail_scroll = 0;
            self.schema_changed();
        }
    }

    /// The selected tool or the catalog changed: work out its schema text and key (once).
    fn schema_changed(&mut self) {
        let Some(&index) = self.visible.get(self.selected) else {
            self.selected_schema = None;
            return;
        };
        let Some(tool) = self.catalog.tools.get(index) else {
            self.selected_schema = None;
            return;
        };
        let text: Arc<str> = Arc::from(schema_text(tool));
        let key = highlight_key(tool, &text);
        self.touch(&key);
        self.selected_schema = Some(SelectedSchema {
            tool: index,
            text,
            key,
        });
    }

    /// The selected tool's schema (text and highlight key), if a tool is selected.
    pub fn selected_schema(&self) -> Option<&SelectedSchema> {
        self.selected_schema.as_ref()
    }

    /// The highlight job for the selected tool, if its schema is not highlighted or pending.
    pub fn highlight_job(&mut self) -> Option<HighlightJob> {
        let schema = self.selected_schema.as_ref()?;
        if self.highlighted.contains_key(&schema.key)
            || self.pending.contains(&schema.key)
            || self.failed.contains(&schema.key)
        {
            return None;
        }
        let job = HighlightJob {
            key: schema.key.clone(),
            text: schema.text.to_string(),
        };
        self.pending.insert(job.key.clone());
        Some(job)
    }

    pub fn store_highlight(&mut self, key: String, lines: Vec<Line<'static>>) {
        self.pending.remove(&key);
        if !self.highlighted.contains_key(&key)
            && self.highlighted.len() >= HIGHLIGHT_CACHE
            && let Some(oldest) = self.recency.pop_front()
        {
            self.highlighted.remove(&oldest);
        }
        self.highlighted.insert(key.clone(), Arc::new(lines));
        self.touch(&key);
    }

    /// The highlighter never answered for `key` (its task failed): stop waiting, and keep the
    /// schema plain rather than asking again and again.
    pub fn highlight_lost(&mut self, key: &str) {
        self.pending.remove(key);
        self.failed.insert(key.to_owned());
    }

    /// Marks `key` as the most recently used highlight.
    fn touch(&mut self, key: &str) {
        if !self.highlighted.contains_key(key) {
            return;
        }
        if let Some(at) = self.recency.iter().position(|k| k == key) {
            self.recency.remove(at);
        }
        self.recency.push_back(key.to_owned());
    }

    /// Highlighted lines of the selected tool's schema, if ready.
    pub fn selected_highlight(&self) -> Option<Arc<Vec<Line<'static>>>> {
        let schema = self.selected_schema.as_ref()?;
        self.highlighted.get(&schema.key).cloned()
    }

    /// Whether a highlight for `key` is waiting.
    pub fn is_pending(&self, key: &str) -> bool {
        self.pending.contains(key)
    }

    pub fn cached_highlights(&self) -> usize {
        self.highlighted.len()
    }
}

/// How well `tool` matches the lower-case `needle`, lower is better; `None` when it does not.
/// A tool whose name starts with the text beats one whose name contains it, which beats a
/// title match, which beats a match somewhere in a description: typing `long` puts
/// `trigger-long-running-operation` above a tool that merely says "along" in its description.
fn match_rank(tool: &ToolEntry, needle: &str) -> Option<u8> {
    if needle.is_empty() {
        return Some(0);
    }
    let name = tool.name.to_lowercase();
    let qualified = tool.qualified_name.to_lowercase();
    if name.starts_with(needle) || qualified.starts_with(needle) {
        Some(0)
    } else if qualified.contains(needle) {
        Some(1)
    } else if tool
        .title
        .as_deref()
        .is_some_and(|t| t.to_lowercase().contains(needle))
    {
        Some(2)
    } else if tool.description.to_lowercase().contains(needle) {
        Some(3)
    } else {
        None
    }
}

/// The input schema pretty-printed (what the details show, highlighted or not).
pub fn schema_text(tool: &ToolEntry) -> String {
    serde_json::to_string_pretty(&*tool.input_schema).unwrap_or_else(|_| "{}".to_owned())
}

fn highlight_key(tool: &ToolEntry, text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{}#{:016x}", tool.qualified_name, hasher.finish())
}
