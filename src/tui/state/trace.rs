//! Trace pane state: the agent's typed steps as a tree in pre-order (a step sits under its
//! parent, after the parent's earlier children), each with its depth and its words (title and
//! detail) worked out once when the step arrives or changes — the view only picks rows.
//! Until an agent has run the timeline is empty and the pane says so.

use std::collections::HashMap;
use std::sync::Arc;

use crate::protocol::{StepId, TraceStep};

use super::trace_words::{detail, title};

/// One step as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    pub step: Arc<TraceStep>,
    /// 0 for a turn (or a server's sampling request), 1 for its children, …
    pub depth: usize,
    pub title: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct TraceState {
    pub rows: Vec<TraceRow>,
    /// Where each step's row is.
    index: HashMap<StepId, usize>,
    pub selected: usize,
}

impl TraceState {
    pub fn select(&mut self, index: usize) {
        self.selected = index.min(self.rows.len().saturating_sub(1));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn row(&self, id: StepId) -> Option<&TraceRow> {
        self.index.get(&id).and_then(|&i| self.rows.get(i))
    }

    /// A step began or changed: replace its row, or place a new one under its parent. The
    /// selection follows the newest step while it is on the last row.
    pub fn upsert(&mut self, step: Arc<TraceStep>) {
        if let Some(&at) = self.index.get(&step.id) {
            if let Some(row) = self.rows.get_mut(at) {
                row.title = title(&step);
                row.detail = detail(&step);
                row.step = step;
            }
            return;
        }
        let following = self.selected + 1 >= self.rows.len();
        let (at, depth) = match step.parent.and_then(|p| self.index.get(&p).copied()) {
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
        let row = TraceRow {
            title: title(&step),
            detail: detail(&step),
            depth,
            step,
        };
        let id = row.step.id;
        self.rows.insert(at, row);
        for (i, row) in self.rows.iter().enumerate().skip(at) {
            self.index.insert(row.step.id, i);
        }
        self.index.insert(id, at);
        if following {
            self.selected = self.rows.len() - 1;
        } else if at <= self.selected {
            // Keep the same step selected when a row is inserted above it.
            self.selected += 1;
        }
    }

    /// Selects the next step after the selected one that ended in an error, wrapping around;
    /// false when none did.
    pub fn select_next_failed(&mut self) -> bool {
        let count = self.rows.len();
        let found = (1..=count)
            .map(|offset| (self.selected + offset) % count.max(1))
            .find(|&i| self.rows[i].step.status == crate::protocol::StepStatus::Error);
        match found {
            Some(i) => {
                self.selected = i;
                true
            }
            None => false,
        }
    }

    /// Forget every step (the conversation was cleared).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.index.clear();
        self.selected = 0;
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
