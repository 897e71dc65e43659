//! Trace pane state: the agent's typed steps as a tree in pre-order (a step sits under its
//! parent, after the parent's earlier children), each with its depth and its words (title and
//! detail) worked out once when the step arrives or changes — the view only picks rows.
//!
//! What is on screen is the visible rows: all of them, or — when steps are collapsed or a
//! filter is typed — the matching steps with their ancestors (for context), minus everything
//! under a collapsed step. Follow mode keeps the newest step selected while a run goes on
//! (with parallel sub-agents that is not the last row); moving the selection turns it off.
//! Until an agent has run the timeline is empty and the pane says so.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::protocol::{StepBody, StepId, StepStatus, TraceStep};

use super::trace_filter::TraceFilter;
use super::trace_words::{detail, title};

/// One step as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    pub step: Arc<TraceStep>,
    /// 0 for a turn (or a server's sampling request), 1 for its children, …
    pub depth: usize,
    pub title: String,
    pub detail: String,
    /// The qualified name of the tool a call, its approval or its result is about.
    pub tool: Option<String>,
    /// Title and detail lower-cased, for the filter's words.
    pub search: String,
}

impl TraceRow {
    pub fn new(step: Arc<TraceStep>, depth: usize, tool: Option<String>) -> Self {
        let mut row = Self {
            title: String::new(),
            detail: String::new(),
            search: String::new(),
            depth,
            tool,
            step,
        };
        row.describe();
        row
    }

    fn describe(&mut self) {
        self.title = title(&self.step);
        self.detail = detail(&self.step);
        self.search = format!("{}\n{}", self.title, self.detail).to_lowercase();
    }
}

/// What the line at the bottom of the pane is typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    /// The filter (applied as it is typed).
    Filter,
    /// A breakpoint to add (`model`, `tool:GLOB`, `error`, `step:N`).
    Breakpoint,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TraceInput {
    pub purpose: InputPurpose,
    pub text: String,
    /// Why the text cannot be used as it is.
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct TraceState {
    pub rows: Vec<TraceRow>,
    /// Where each step's row is.
    index: HashMap<StepId, usize>,
    /// The selected row (an index into `rows`; always a visible one).
    pub selected: usize,
    /// Keep the newest step selected as steps arrive.
    pub follow: bool,
    /// The step that began last.
    newest: Option<StepId>,
    /// Steps whose children are hidden.
    collapsed: HashSet<StepId>,
    pub filter: Option<TraceFilter>,
    /// The line being typed at the bottom of the pane, if any.
    pub input: Option<TraceInput>,
    /// Rows shown, in order; `None` when every row is (no filter, nothing collapsed).
    visible: Option<Vec<usize>>,
    /// Steps the filter matches (the rows shown also hold their ancestors).
    pub matched: usize,
}

impl Default for TraceState {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            index: HashMap::new(),
            selected: 0,
            follow: true,
            newest: None,
            collapsed: HashSet::new(),
            filter: None,
            input: None,
            visible: None,
            matched: 0,
        }
    }
}

impl TraceState {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn row(&self, id: StepId) -> Option<&TraceRow> {
        self.index.get(&id).and_then(|&i| self.rows.get(i))
    }

    pub fn selected_row(&self) -> Option<&TraceRow> {
        self.rows.get(self.selected)
    }

    /// How many rows are shown.
    pub fn visible_len(&self) -> usize {
        self.visible.as_ref().map_or(self.rows.len(), Vec::len)
    }

    /// The row shown at `position` (0 is the first shown).
    pub fn visible_row(&self, position: usize) -> Option<usize> {
        match &self.visible {
            None => (position < self.rows.len()).then_some(position),
            Some(visible) => visible.get(position).copied(),
        }
    }

    /// Where row `index` is among the shown ones, or the shown row before it.
    pub fn position_of(&self, index: usize) -> usize {
        match &self.visible {
            None => index,
            Some(visible) => match visible.binary_search(&index) {
                Ok(position) => position,
                Err(after) => after.saturating_sub(1),
            },
        }
    }

    /// True when a row has children (whether or not they are shown).
    pub fn has_children(&self, index: usize) -> bool {
        let depth = self.rows.get(index).map_or(0, |row| row.depth);
        self.rows
            .get(index + 1)
            .is_some_and(|next| next.depth > depth)
    }

    pub fn is_collapsed(&self, index: usize) -> bool {
        self.rows
            .get(index)
            .is_some_and(|row| self.collapsed.contains(&row.step.id))
    }

    /// Steps under row `index`, at any depth.
    pub fn descendants(&self, index: usize) -> usize {
        let Some(depth) = self.rows.get(index).map(|row| row.depth) else {
            return 0;
        };
        self.rows[index + 1..]
            .iter()
            .position(|row| row.depth <= depth)
            .unwrap_or(self.rows.len() - index - 1)
    }

    /// Selects row `index` (or the shown row before it); the user chose, so follow mode ends.
    pub fn select(&mut self, index: usize) {
        self.follow = false;
        self.select_shown(index);
    }

    /// Selects row `index` if it is shown, else the shown row before it (or the first). With
    /// nothing shown (a filter half typed) the selection stays, so it comes back when the
    /// filter matches again.
    fn select_shown(&mut self, index: usize) {
        let index = index.min(self.rows.len().saturating_sub(1));
        let position = self.position_of(index);
        if let Some(shown) = self.visible_row(position).or_else(|| self.visible_row(0)) {
            self.selected = shown;
        }
    }

    /// Moves the selection `delta` shown rows up (negative) or down. Follow mode ends, unless
    /// the move lands on the newest step on the last row (where following would keep it).
    pub fn move_by(&mut self, delta: isize) {
        let last = self.visible_len().saturating_sub(1);
        let position = self
            .position_of(self.selected)
            .saturating_add_signed(delta)
            .min(last);
        if let Some(index) = self.visible_row(position) {
            self.selected = index;
        }
        let newest = self.newest.and_then(|id| self.index.get(&id)).copied();
        self.follow = position == last && newest == Some(self.selected);
    }

    /// Follow mode on (the newest step is selected at once) or off.
    pub fn set_follow(&mut self, on: bool) {
        self.follow = on;
        if on {
            self.select_newest();
        }
    }

    fn select_newest(&mut self) {
        if let Some(&index) = self.newest.and_then(|id| self.index.get(&id)) {
            self.select_shown(index);
        }
    }

    /// A step began or changed: replace its row, or place a new one under its parent.
    pub fn upsert(&mut self, step: Arc<TraceStep>) {
        if let Some(&at) = self.index.get(&step.id) {
            if let Some(row) = self.rows.get_mut(at) {
                row.step = step;
                row.describe();
            }
            if self.filter.is_some() {
                // A step that ends may start or stop matching (`status:error`).
                self.refresh();
            }
            return;
        }
        let selected_id = self.rows.get(self.selected).map(|row| row.step.id);
        let parent = step.parent.and_then(|p| self.index.get(&p).copied());
        let (at, depth) = match parent {
            Some(parent) => {
                let depth = self.rows[parent].depth + 1;
                // After the parent's subtree: the next row at the parent's depth or above.
                let end = self.rows[parent + 1..]
                    .iter()
                    .position(|row| row.depth < depth)
                    .map_or(self.rows.len(), |offset| parent + 1 + offset);
                (end, depth)
            }
            None => (self.rows.len(), 0),
        };
        let tool = tool_of(&step).or_else(|| parent.and_then(|p| self.rows[p].tool.clone()));
        let row = TraceRow::new(step, depth, tool);
        let id = row.step.id;
        self.rows.insert(at, row);
        for (i, row) in self.rows.iter().enumerate().skip(at) {
            self.index.insert(row.step.id, i);
        }
        self.newest = Some(id);
        if self.filter.is_some() || !self.collapsed.is_empty() {
            self.rebuild_visible();
        }
        if self.follow {
            self.select_newest();
        } else if let Some(&index) = selected_id.and_then(|id| self.index.get(&id)) {
            // The same step stays selected when a row is inserted above it.
            self.selected = index;
        }
    }

    /// Space: hides or shows the selected step's children.
    pub fn toggle_collapsed(&mut self) {
        let Some(id) = self.selected_row().map(|row| row.step.id) else {
            return;
        };
        if !self.collapsed.remove(&id) && self.has_children(self.selected) {
            self.collapsed.insert(id);
        }
        self.refresh();
    }

    /// ←: hides the selected step's children, or (already hidden, or none) goes to its parent.
    pub fn collapse_or_up(&mut self) {
        let Some(row) = self.selected_row() else {
            return;
        };
        let (id, parent) = (row.step.id, row.step.parent);
        if self.has_children(self.selected) && !self.collapsed.contains(&id) {
            self.collapsed.insert(id);
            self.refresh();
        } else if let Some(&index) = parent.and_then(|p| self.index.get(&p)) {
            self.select(index);
        }
    }

    /// →: shows the selected step's children, or (shown already) goes to the first one.
    pub fn expand_or_down(&mut self) {
        let Some(id) = self.selected_row().map(|row| row.step.id) else {
            return;
        };
        if self.collapsed.remove(&id) {
            self.refresh();
        } else if self.has_children(self.selected) {
            self.move_by(1);
        }
    }

    /// Shows only matching steps (and their ancestors); `None` shows every step.
    pub fn set_filter(&mut self, filter: Option<TraceFilter>) {
        self.filter = filter;
        self.refresh();
    }

    /// The rows shown changed: recompute them and keep the selection on a shown row.
    fn refresh(&mut self) {
        let selected = self.selected;
        self.rebuild_visible();
        if self.follow {
            self.select_newest();
        } else {
            self.select_shown(selected);
        }
    }

    fn rebuild_visible(&mut self) {
        if self.filter.is_none() && self.collapsed.is_empty() {
            self.visible = None;
            return;
        }
        let rows = &self.rows;
        let mut shown = vec![self.filter.is_none(); rows.len()];
        self.matched = 0;
        if let Some(filter) = &self.filter {
            // A matching step shows its ancestors too, so the tree still reads.
            let mut ancestors: Vec<usize> = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                while ancestors
                    .last()
                    .is_some_and(|&a| rows[a].depth >= row.depth)
                {
                    ancestors.pop();
                }
                if filter.matches(row) {
                    self.matched += 1;
                    shown[i] = true;
                    for &a in ancestors.iter().rev() {
                        if std::mem::replace(&mut shown[a], true) {
                            break;
                        }
                    }
                }
                ancestors.push(i);
            }
        }
        let mut visible = Vec::new();
        let mut hidden_below: Option<usize> = None;
        for (i, row) in rows.iter().enumerate() {
            if let Some(depth) = hidden_below {
                if row.depth > depth {
                    continue;
                }
                hidden_below = None;
            }
            if !shown[i] {
                continue;
            }
            visible.push(i);
            if self.collapsed.contains(&row.step.id) {
                hidden_below = Some(row.depth);
            }
        }
        self.visible = Some(visible);
    }

    /// Selects the next step after the selected one that ended in an error, wrapping around
    /// (showing it if it was collapsed away or filtered out); false when none did.
    pub fn select_next_failed(&mut self) -> bool {
        let count = self.rows.len();
        let found = (1..=count)
            .map(|offset| (self.selected + offset) % count.max(1))
            .find(|&i| self.rows[i].step.status == StepStatus::Error);
        let Some(index) = found else {
            return false;
        };
        self.reveal(index);
        self.select(index);
        true
    }

    /// Selects step `id` (shown, whatever hid it) and follows the run from there: a pause
    /// shows where the run stopped.
    pub fn focus_step(&mut self, id: StepId) {
        if let Some(&index) = self.index.get(&id) {
            self.reveal(index);
            self.select_shown(index);
            self.follow = true;
        }
    }

    /// Makes row `index` shown: its collapsed ancestors open, and a filter that hides it goes.
    fn reveal(&mut self, index: usize) {
        let mut parent = self.rows[index].step.parent;
        while let Some(id) = parent {
            self.collapsed.remove(&id);
            parent = self.row(id).and_then(|row| row.step.parent);
        }
        if self
            .filter
            .as_ref()
            .is_some_and(|filter| !filter.matches(&self.rows[index]))
        {
            self.filter = None;
        }
        self.rebuild_visible();
    }

    /// Forget every step (the conversation was cleared).
    pub fn clear(&mut self) {
        *self = Self {
            filter: self.filter.take(),
            ..Self::default()
        };
    }
}

/// The tool a step is about, from its own body (a call; its approval and result inherit it).
fn tool_of(step: &TraceStep) -> Option<String> {
    match &step.body {
        StepBody::ToolCall { qualified_name, .. } => Some(qualified_name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{StepBody, StepStatus};

    fn step(id: u64, parent: Option<u64>) -> Arc<TraceStep> {
        Arc::new(TraceStep::begin(
            StepId(id),
            parent.map(StepId),
            None,
            StepBody::Limit {
                reason: format!("step {id}"),
            },
        ))
    }

    fn order(state: &TraceState) -> Vec<(u64, usize)> {
        state.rows.iter().map(|r| (r.step.id.0, r.depth)).collect()
    }

    #[test]
    fn steps_form_a_tree_in_pre_order() {
        let mut state = TraceState::default();
        state.upsert(step(1, None));
        state.upsert(step(2, Some(1)));
        state.upsert(step(3, Some(2)));
        state.upsert(step(4, Some(1)));
        // A late child of step 2 goes after step 3, before step 4.
        state.upsert(step(5, Some(2)));
        state.upsert(step(6, None));
        assert_eq!(
            order(&state),
            vec![(1, 0), (2, 1), (3, 2), (5, 2), (4, 1), (6, 0)]
        );
        assert_eq!(state.row(StepId(4)).map(|r| r.depth), Some(1));
    }

    #[test]
    fn an_update_replaces_the_row_in_place() {
        let mut state = TraceState::default();
        state.upsert(step(1, None));
        state.upsert(step(2, Some(1)));
        let mut done = (*step(2, Some(1))).clone();
        done.end(StepStatus::Ok);
        state.upsert(Arc::new(done));
        assert_eq!(state.len(), 2);
        assert_eq!(
            state.row(StepId(2)).map(|r| r.step.status),
            Some(StepStatus::Ok)
        );
    }

    #[test]
    fn the_selection_follows_the_newest_step_unless_moved() {
        let mut state = TraceState::default();
        state.upsert(step(1, None));
        state.upsert(step(2, None));
        assert_eq!(state.selected, 1, "follows");
        state.select(0);
        state.upsert(step(3, None));
        assert_eq!(state.selected, 0, "stays where the user put it");
        state.upsert(step(4, Some(1)));
        assert_eq!(state.rows[state.selected].step.id, StepId(1));
    }
}
