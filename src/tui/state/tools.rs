//! Tools pane state: the catalog's tools, a filter, the selection, and highlighted input
//! schemas. Highlighting runs off the UI thread; until its lines arrive the view shows the
//! schema plain. Highlights are keyed by tool and schema text, so a changed schema is
//! highlighted again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ratatui::text::Line;

use crate::runtime::catalog::{Catalog, ToolEntry};

/// Highlighted schemas kept; beyond this the cache starts over (it is cheap to refill).
const HIGHLIGHT_CACHE: usize = 256;

#[derive(Debug, Default)]
pub struct ToolsState {
    pub catalog: Arc<Catalog>,
    pub filter: String,
    /// The keyboard is in the filter.
    pub filtering: bool,
    /// Indices into `catalog.tools` that match the filter, best match first (see
    /// [`match_rank`]), catalog order among equals.
    pub visible: Vec<usize>,
    /// Index into `visible`.
    pub selected: usize,
    pub detail_scroll: u16,
    pub highlighted: HashMap<String, Arc<Vec<Line<'static>>>>,
    pub pending: HashSet<String>,
}

/// A schema waiting to be highlighted.
#[derive(Debug, Clone, PartialEq)]
pub struct HighlightJob {
    pub key: String,
    pub text: String,
}

impl ToolsState {
    /// Replaces the catalog, keeping the selected tool selected if it still exists.
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        let keep = self.selected_name();
        self.catalog = catalog;
        self.refilter();
        self.reselect(keep);
    }

    /// The filter text changed: the best match is selected, as in any fuzzy finder.
    pub fn filter_edited(&mut self) {
        self.refilter();
        self.selected = 0;
    }

    /// The filter was cleared: the tool that was selected stays selected in the full list.
    pub fn filter_cleared(&mut self) {
        let keep = self.selected_name();
        self.filter.clear();
        self.refilter();
        self.reselect(keep);
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
        }
    }

    /// The highlight job for the selected tool, if its schema is not highlighted or pending.
    pub fn highlight_job(&mut self) -> Option<HighlightJob> {
        let tool = self.selected_tool()?;
        let text = schema_text(tool);
        let key = highlight_key(tool, &text);
        if self.highlighted.contains_key(&key) || self.pending.contains(&key) {
            return None;
        }
        self.pending.insert(key.clone());
        Some(HighlightJob { key, text })
    }

    pub fn store_highlight(&mut self, key: String, lines: Vec<Line<'static>>) {
        self.pending.remove(&key);
        if self.highlighted.len() >= HIGHLIGHT_CACHE {
            self.highlighted.clear();
        }
        self.highlighted.insert(key, Arc::new(lines));
    }

    /// Highlighted schema lines for `tool`, if ready.
    pub fn highlighted_schema(&self, tool: &ToolEntry) -> Option<Arc<Vec<Line<'static>>>> {
        let key = highlight_key(tool, &schema_text(tool));
        self.highlighted.get(&key).cloned()
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
