//! The catalog an offline replay offers: the tools a recording called (the only ones that
//! say which server they are on), offered the model natively (with descriptions and schemas)
//! or named in a plan. An offline replay runs no server, so this is all it knows of them.

use std::sync::Arc;

use rmcp::model::JsonObject;
use serde_json::Value;

use crate::agent::turn::tool_pattern_allows;
use crate::llm::ToolSpec;
use crate::runtime::catalog::ToolEntry;
use crate::runtime::messages::ServerName;

/// The tools a recording knew of, by qualified name, in the order they first appear.
#[derive(Default)]
pub(super) struct Tools {
    entries: Vec<ToolEntry>,
    /// Tool patterns the recorded plans named.
    pub(super) planned: Vec<String>,
}

impl Tools {
    fn entry(&mut self, qualified_name: &str) -> &mut ToolEntry {
        let at = match self
            .entries
            .iter()
            .position(|entry| entry.qualified_name == qualified_name)
        {
            Some(at) => at,
            None => {
                // Only a call says which server a tool is on; until one does, the qualified
                // name's `server__tool` shape is the best guess (an offline replay never
                // calls a tool the recording did not call).
                let (server, name) = qualified_name
                    .split_once("__")
                    .unwrap_or((qualified_name, qualified_name));
                self.entries.push(ToolEntry {
                    server: ServerName::new(server),
                    name: name.to_owned(),
                    qualified_name: qualified_name.to_owned(),
                    title: None,
                    description: String::new(),
                    input_schema: Arc::new(JsonObject::new()),
                    output_schema: None,
                    annotations: None,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }

    pub(super) fn called(&mut self, server: &str, tool: &str, qualified_name: &str) {
        let entry = self.entry(qualified_name);
        entry.server = ServerName::new(server);
        tool.clone_into(&mut entry.name);
    }

    /// Tools a request offered the model natively, with their descriptions and schemas.
    pub(super) fn offered(&mut self, specs: &[ToolSpec]) {
        for spec in specs {
            let entry = self.entry(&spec.name);
            if entry.description.is_empty() {
                spec.description.clone_into(&mut entry.description);
            }
            if let Value::Object(schema) = &spec.parameters
                && entry.input_schema.is_empty()
            {
                entry.input_schema = Arc::new(schema.clone());
            }
        }
    }

    /// The catalog's tools. A plan is checked against the catalog before it runs, so every
    /// pattern a recorded plan named must match a tool, even one the recording neither called
    /// nor offered natively (a text-protocol run lists its tools only in prose): such a
    /// pattern gets a tool of its own name, which matches it.
    pub(super) fn entries(mut self) -> Vec<ToolEntry> {
        for pattern in std::mem::take(&mut self.planned) {
            let matched = self
                .entries
                .iter()
                .any(|entry| tool_pattern_allows(&pattern, &entry.qualified_name));
            let name = pattern.strip_suffix('*').unwrap_or(&pattern);
            if !matched && !name.is_empty() {
                self.entry(name);
            }
        }
        self.entries
    }
}
