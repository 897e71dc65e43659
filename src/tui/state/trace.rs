//! Trace pane state: the timeline of agent reasoning steps a debugger steps through. Agent runs
//! append steps here; until one has run the timeline is empty and the pane says so.

/// One step of an agent run as the timeline shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStep {
    pub title: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct TraceState {
    pub steps: Vec<TraceStep>,
    pub selected: usize,
}

impl TraceState {
    pub fn select(&mut self, index: usize) {
        self.selected = index.min(self.steps.len().saturating_sub(1));
    }
}
