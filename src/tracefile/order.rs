//! The order in which a replay makes a recorded run's model requests and tool calls.
//!
//! A trace lists steps as they happened. When an orchestrator phase ran its sub-agents at the
//! same time, their requests and calls are interleaved in whatever order the model and the
//! servers happened to answer, and no replay can count on meeting that order again. So a
//! replay runs the sub-agents one at a time (see `replay.rs`), and reads the recording in the
//! order that makes: the step tree walked depth first, each step's children in the order they
//! began (step ids are handed out as steps begin), a phase's sub-agents by their place in the
//! plan. A run without sub-agents (a chat turn, a fork) comes out in the order it happened.

use std::collections::{HashMap, HashSet};

use crate::protocol::{StepBody, StepId, TraceStep};

/// `steps` (each step's newest version, as read) depth first: every turn (and any other step
/// without a parent in the file) in file order, each followed by everything under it.
pub fn replay_order(steps: &[TraceStep]) -> Vec<&TraceStep> {
    let known: HashSet<StepId> = steps.iter().map(|step| step.id).collect();
    let mut roots = Vec::new();
    let mut children: HashMap<StepId, Vec<&TraceStep>> = HashMap::new();
    for step in steps {
        match step.parent {
            Some(parent) if known.contains(&parent) => {
                children.entry(parent).or_default().push(step);
            }
            // A parent the file does not have (it was cut short): the step stands alone.
            _ => roots.push(step),
        }
    }
    for siblings in children.values_mut() {
        // A phase's children are all sub-agents; other steps have none among their siblings.
        siblings.sort_by_key(|step| (sub_agent_index(step), step.id));
    }
    let mut ordered = Vec::with_capacity(steps.len());
    let mut seen = HashSet::new();
    for root in roots {
        let mut stack = vec![root];
        while let Some(step) = stack.pop() {
            if !seen.insert(step.id) {
                continue;
            }
            ordered.push(step);
            if let Some(under) = children.get(&step.id) {
                stack.extend(under.iter().rev());
            }
        }
    }
    // Steps whose parents form a loop are reached from no root (only a damaged file has them):
    // they go last, as read.
    ordered.extend(steps.iter().filter(|step| !seen.contains(&step.id)));
    ordered
}

fn sub_agent_index(step: &TraceStep) -> Option<u32> {
    match step.body {
        StepBody::SubAgent { index, .. } => Some(index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{StepStatus, TurnId};

    fn step(id: u64, parent: Option<u64>, body: StepBody) -> TraceStep {
        let mut step = TraceStep::begin(StepId(id), parent.map(StepId), Some(TurnId(1)), body);
        step.end(StepStatus::Ok);
        step
    }

    fn limit(id: u64, parent: Option<u64>) -> TraceStep {
        step(
            id,
            parent,
            StepBody::Limit {
                reason: id.to_string(),
            },
        )
    }

    fn sub_agent(id: u64, parent: u64, index: u32) -> TraceStep {
        step(
            id,
            Some(parent),
            StepBody::SubAgent {
                index,
                goal: format!("task {index}"),
                tools: Vec::new(),
                answer: None,
            },
        )
    }

    fn ids(steps: &[&TraceStep]) -> Vec<u64> {
        steps.iter().map(|step| step.id.0).collect()
    }

    #[test]
    fn parallel_sub_agents_come_out_one_after_another_in_plan_order() {
        // Phase 2 under turn 1; sub-agents 3 (index 1) and 4 (index 0) ran at the same time,
        // their requests 5..8 interleaved, and 9 (a reply) was written before 7.
        let steps = vec![
            limit(1, None),
            limit(2, Some(1)),
            sub_agent(3, 2, 1),
            sub_agent(4, 2, 0),
            limit(5, Some(3)),
            limit(6, Some(4)),
            limit(9, Some(5)),
            limit(7, Some(3)),
            limit(8, Some(4)),
            limit(10, Some(1)),
        ];
        assert_eq!(
            ids(&replay_order(&steps)),
            vec![1, 2, 4, 6, 8, 3, 5, 9, 7, 10]
        );
    }

    #[test]
    fn a_run_without_sub_agents_keeps_its_order_and_orphans_stand_alone() {
        let steps = vec![
            limit(1, None),
            limit(2, Some(1)),
            limit(4, Some(2)),
            limit(3, Some(1)),
            limit(6, Some(99)),
            limit(5, None),
        ];
        assert_eq!(ids(&replay_order(&steps)), vec![1, 2, 4, 3, 6, 5]);
    }

    #[test]
    fn steps_in_a_parent_loop_are_kept_at_the_end() {
        let steps = vec![limit(1, None), limit(2, Some(3)), limit(3, Some(2))];
        assert_eq!(ids(&replay_order(&steps)), vec![1, 2, 3]);
    }
}
