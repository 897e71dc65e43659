//! Which tool calls may run without asking. In chat mode every call waits for a keystroke
//! unless the config allows it (`auto_approve`, `auto_approve_read_only`) or the user chose
//! "always" for that tool earlier in the session; `always_ask` overrides all of these.
//!
//! "Always" is remembered against a hash of the tool's input schema and description, so a
//! server that changes what the tool is (announced by `list_changed`) has to be approved again.

use std::collections::HashMap;

use crate::config::ApprovalConfig;
use crate::hash::fnv1a;
use crate::protocol::{AgentMode, ApprovedBy};
use crate::runtime::catalog::ToolEntry;

/// What the policy says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Run(ApprovedBy),
    Ask,
}

#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicy {
    config: ApprovalConfig,
    /// Tools the user allowed for the session, with the fingerprint they had then.
    always: HashMap<String, u64>,
}

impl ApprovalPolicy {
    pub fn new(config: ApprovalConfig) -> Self {
        Self {
            config,
            always: HashMap::new(),
        }
    }

    pub fn verdict(&mut self, tool: &ToolEntry, mode: AgentMode) -> Verdict {
        let name = tool.qualified_name.as_str();
        if matches_any(&self.config.always_ask, name) {
            return Verdict::Ask;
        }
        if mode == AgentMode::Auto {
            return Verdict::Run(ApprovedBy::AutoMode);
        }
        if matches_any(&self.config.auto_approve, name) {
            return Verdict::Run(ApprovedBy::Config);
        }
        let read_only = tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        if self.config.auto_approve_read_only && read_only {
            return Verdict::Run(ApprovedBy::Config);
        }
        match self.always.get(name) {
            Some(fingerprint) if *fingerprint == fingerprint_of(tool) => {
                Verdict::Run(ApprovedBy::Session)
            }
            Some(_) => {
                // The tool changed since the user said "always": forget it and ask again.
                self.always.remove(name);
                Verdict::Ask
            }
            None => Verdict::Ask,
        }
    }

    /// The user chose "always" for this tool.
    pub fn allow_always(&mut self, tool: &ToolEntry) {
        self.always
            .insert(tool.qualified_name.clone(), fingerprint_of(tool));
    }
}

fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        })
}

/// A stable hash of what the user approved: the tool's schema and description.
fn fingerprint_of(tool: &ToolEntry) -> u64 {
    let schema = serde_json::to_string(&*tool.input_schema).unwrap_or_default();
    fnv1a(schema.bytes().chain([0]).chain(tool.description.bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::runtime::catalog::{Catalog, ServerListing};
    use crate::runtime::messages::ServerName;
    use serde_json::json;

    fn tool(server: &str, name: &str, read_only: bool, description: &str) -> ToolEntry {
        let listing = ServerListing {
            tools: vec![
                serde_json::from_value(json!({
                    "name": name,
                    "description": description,
                    "inputSchema": {"type": "object"},
                    "annotations": {"readOnlyHint": read_only}
                }))
                .expect("tool"),
            ],
            ..ServerListing::default()
        };
        Catalog::build(1, &[(ServerName::new(server), Arc::new(listing))]).tools[0].clone()
    }

    fn policy(auto: &[&str], ask: &[&str], read_only: bool) -> ApprovalPolicy {
        ApprovalPolicy::new(ApprovalConfig {
            auto_approve: auto.iter().map(|s| (*s).to_owned()).collect(),
            always_ask: ask.iter().map(|s| (*s).to_owned()).collect(),
            auto_approve_read_only: read_only,
        })
    }

    #[test]
    fn chat_mode_asks_by_default_and_auto_mode_runs() {
        let mut p = policy(&[], &[], false);
        let t = tool("fs", "write", false, "writes");
        assert_eq!(p.verdict(&t, AgentMode::Chat), Verdict::Ask);
        assert_eq!(
            p.verdict(&t, AgentMode::Auto),
            Verdict::Run(ApprovedBy::AutoMode)
        );
    }

    #[test]
    fn config_lists_and_read_only_hint() {
        let mut p = policy(&["fs__read", "web__*"], &["web__post"], true);
        assert_eq!(
            p.verdict(&tool("fs", "read", false, ""), AgentMode::Chat),
            Verdict::Run(ApprovedBy::Config)
        );
        assert_eq!(
            p.verdict(&tool("web", "get", false, ""), AgentMode::Chat),
            Verdict::Run(ApprovedBy::Config)
        );
        assert_eq!(
            p.verdict(&tool("web", "post", true, ""), AgentMode::Chat),
            Verdict::Ask,
            "always_ask wins over everything, even read-only"
        );
        assert_eq!(
            p.verdict(&tool("web", "post", false, ""), AgentMode::Auto),
            Verdict::Ask,
            "and over auto mode"
        );
        assert_eq!(
            p.verdict(&tool("db", "query", true, ""), AgentMode::Chat),
            Verdict::Run(ApprovedBy::Config)
        );
        assert_eq!(
            p.verdict(&tool("db", "drop", false, ""), AgentMode::Chat),
            Verdict::Ask
        );
    }

    #[test]
    fn always_lasts_until_the_tool_changes() {
        let mut p = policy(&[], &[], false);
        let v1 = tool("fs", "write", false, "writes a file");
        p.allow_always(&v1);
        assert_eq!(
            p.verdict(&v1, AgentMode::Chat),
            Verdict::Run(ApprovedBy::Session)
        );
        let v2 = tool("fs", "write", false, "writes a file, and deletes others");
        assert_eq!(p.verdict(&v2, AgentMode::Chat), Verdict::Ask);
        assert_eq!(
            p.verdict(&v1, AgentMode::Chat),
            Verdict::Ask,
            "forgotten once a change was seen"
        );
    }
}
