//! The orchestrator's plan: what the planning request asks the model to write, and how its
//! reply is read. A plan is JSON — phases run one after another, the sub-tasks of a phase run
//! at the same time — and it is checked before anything runs: a reply that is not JSON, a phase
//! without tasks or a task naming a tool no server has is refused with a message that tells
//! the model exactly what to fix.

use serde::{Deserialize, Serialize};

use crate::agent::turn::tool_pattern_allows;
use crate::runtime::catalog::Catalog;
use crate::text::truncate_chars;

/// At most this many phases and tasks per phase: a plan is a handful of steps, and a model
/// that writes hundreds is confused, not thorough.
pub const MAX_PHASES: usize = 8;
pub const MAX_TASKS_PER_PHASE: usize = 8;

/// What the model planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub phases: Vec<Phase>,
}

/// Sub-tasks that do not depend on each other and run at the same time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    #[serde(default)]
    pub name: String,
    pub tasks: Vec<Task>,
}

/// One sub-agent's job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub goal: String,
    /// The tools it may call: qualified names (`server__tool`), a whole server (`server__*`
    /// or just `server`). Empty: every tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// The planning request's instructions. The tools are listed so the plan can name them.
pub fn planner_prompt(catalog: &Catalog) -> String {
    let mut prompt = String::from(
        "You plan work for a team of agents that can call tools on MCP servers. Break the \
         user's request into phases; phases run one after another, and the tasks of one phase \
         run at the same time, so put tasks that need each other's results in different \
         phases. Each task is done by an agent that sees only its goal and the results of the \
         earlier phases, so write every goal so it can be done on its own.\n\n\
         Answer with JSON only, exactly in this shape:\n\
         {\"phases\": [{\"name\": \"short name\", \"tasks\": [{\"goal\": \"what to do\", \
         \"tools\": [\"server__tool\"]}]}]}\n\n\
         \"tools\" is optional: the tools the task may use, by the names below (\"server__*\" \
         allows a whole server). Use at most ",
    );
    prompt.push_str(&format!(
        "{MAX_PHASES} phases and {MAX_TASKS_PER_PHASE} tasks per phase.\n\nTools:\n"
    ));
    if catalog.tools.is_empty() {
        prompt.push_str("(none: no server offers tools right now)\n");
    }
    for tool in &catalog.tools {
        let description = tool.description.lines().next().unwrap_or_default();
        prompt.push_str(&format!(
            "- {}: {}\n",
            tool.qualified_name,
            truncate_chars(description, 200)
        ));
    }
    prompt
}

/// Reads the model's plan, or says precisely what is wrong with it (the words go back to the
/// model, and to the user if the second attempt fails too).
pub fn parse_plan(reply: &str, catalog: &Catalog) -> Result<Plan, String> {
    let json = json_object_in(reply).ok_or_else(|| {
        "The reply contains no JSON object. Answer with the plan as JSON only, in the shape \
         {\"phases\": [{\"name\": …, \"tasks\": [{\"goal\": …}]}]}."
            .to_owned()
    })?;
    let plan: Plan = serde_json::from_str(json).map_err(|error| {
        format!("The plan is not valid plan JSON: {error}. Use the shape given above.")
    })?;
    check(&plan, catalog)?;
    Ok(plan)
}

fn check(plan: &Plan, catalog: &Catalog) -> Result<(), String> {
    if plan.phases.is_empty() {
        return Err("The plan has no phases: give at least one phase with one task.".into());
    }
    if plan.phases.len() > MAX_PHASES {
        return Err(format!(
            "The plan has {} phases; use at most {MAX_PHASES}.",
            plan.phases.len()
        ));
    }
    for (p, phase) in plan.phases.iter().enumerate() {
        let phase_no = p + 1;
        if phase.tasks.is_empty() {
            return Err(format!("Phase {phase_no} has no tasks."));
        }
        if phase.tasks.len() > MAX_TASKS_PER_PHASE {
            return Err(format!(
                "Phase {phase_no} has {} tasks; use at most {MAX_TASKS_PER_PHASE}.",
                phase.tasks.len()
            ));
        }
        for (t, task) in phase.tasks.iter().enumerate() {
            let task_no = t + 1;
            if task.goal.trim().is_empty() {
                return Err(format!(
                    "Task {task_no} of phase {phase_no} has an empty goal."
                ));
            }
            let unknown: Vec<&str> = task
                .tools
                .iter()
                .filter(|pattern| {
                    !catalog
                        .tools
                        .iter()
                        .any(|tool| tool_pattern_allows(pattern, &tool.qualified_name))
                })
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "Task {task_no} of phase {phase_no} names tools that do not exist: {}. \
                     Use only the tool names listed above.",
                    unknown
                        .iter()
                        .map(|name| format!("`{}`", truncate_chars(name, 80)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// The first balanced JSON object in `text`: inside a ```json fence or bare, with prose
/// around it ignored. Strings are respected, so a `}` inside one does not end the object.
pub fn json_object_in(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut start = text.find('{')?;
    loop {
        if let Some(end) = balanced_end(&bytes[start..]) {
            return Some(&text[start..start + end]);
        }
        start += 1 + text[start + 1..].find('{')?;
    }
}

/// The length of the balanced `{…}` at the start of `bytes`, if it closes.
fn balanced_end(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::catalog::ServerListing;
    use crate::runtime::messages::ServerName;

    fn listing(names: &[&str]) -> Arc<ServerListing> {
        let tools = names
            .iter()
            .map(|name| {
                serde_json::from_value(serde_json::json!({
                    "name": name, "description": format!("{name}s"),
                    "inputSchema": {"type": "object"}
                }))
                .expect("a tool")
            })
            .collect();
        Arc::new(ServerListing {
            tools,
            ..ServerListing::default()
        })
    }

    fn catalog() -> Catalog {
        Catalog::build(
            1,
            &[
                (ServerName::new("demo"), listing(&["echo", "sleep"])),
                (ServerName::new("files"), listing(&["read"])),
            ],
        )
    }

    #[test]
    fn a_fenced_plan_with_prose_around_it_is_read() {
        let reply = "Here is the plan:\n```json\n{\"phases\": [{\"name\": \"look\", \"tasks\": \
                     [{\"goal\": \"echo a }\", \"tools\": [\"demo__echo\"]}, {\"goal\": \
                     \"read\", \"tools\": [\"files\"]}]}]}\n```\nDone.";
        let plan = parse_plan(reply, &catalog()).expect("a plan");
        assert_eq!(plan.phases.len(), 1);
        assert_eq!(plan.phases[0].tasks[0].goal, "echo a }");
        assert_eq!(plan.phases[0].tasks[1].tools, vec!["files".to_owned()]);
    }

    #[test]
    fn what_is_wrong_with_a_plan_is_said_precisely() {
        let catalog = catalog();
        let no_json = parse_plan("I will look it up.", &catalog).unwrap_err();
        assert!(no_json.contains("no JSON object"), "{no_json}");
        let not_a_plan = parse_plan("{\"steps\": []}", &catalog).unwrap_err();
        assert!(
            not_a_plan.contains("missing field `phases`"),
            "{not_a_plan}"
        );
        let empty = parse_plan("{\"phases\": [{\"tasks\": []}]}", &catalog).unwrap_err();
        assert_eq!(empty, "Phase 1 has no tasks.");
        let unknown = parse_plan(
            "{\"phases\": [{\"tasks\": [{\"goal\": \"x\", \"tools\": [\"demo__echo\", \
             \"web__get\"]}]}]}",
            &catalog,
        )
        .unwrap_err();
        assert!(
            unknown.contains("Task 1 of phase 1 names tools that do not exist: `web__get`"),
            "{unknown}"
        );
    }

    #[test]
    fn patterns_allow_a_tool_a_server_or_a_prefix() {
        let allows = tool_pattern_allows;
        assert!(allows("demo__echo", "demo__echo"));
        assert!(!allows("demo__echo", "demo__echo2"));
        assert!(allows("demo__*", "demo__sleep"));
        assert!(allows("demo", "demo__sleep"));
        assert!(!allows("dem", "demo__sleep"));
        assert!(!allows("demo", "demonstration__x"));
    }

    #[test]
    fn the_planner_prompt_lists_every_tool() {
        let prompt = planner_prompt(&catalog());
        for name in ["demo__echo", "demo__sleep", "files__read"] {
            assert!(prompt.contains(name), "{name} missing from {prompt}");
        }
    }
}
