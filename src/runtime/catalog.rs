//! The catalog: every tool, resource and prompt offered by the Ready servers, under names that
//! are unique across servers. Tools get a qualified name `server__tool` that LLM APIs accept
//! (`[A-Za-z0-9_-]`, at most 64 characters) and that stays stable for the same inputs. The
//! supervisor rebuilds it whenever a listing changes and publishes it as an immutable snapshot
//! with a version counter.

use std::collections::HashSet;
use std::sync::Arc;

use rmcp::model::{JsonObject, Prompt, Resource, Tool, ToolAnnotations};

use super::messages::ServerName;
use crate::hash::fnv1a;
use crate::text::{sanitize, sanitize_line};

/// The longest name OpenAI-style function calling accepts.
pub const MAX_QUALIFIED_LEN: usize = 64;

/// What one server listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerListing {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub prompts: Vec<Prompt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    pub server: ServerName,
    /// The server's own name for the tool, exactly as listed (used to call it).
    pub name: String,
    pub qualified_name: String,
    pub title: Option<String>,
    /// Sanitized description ("" when the server gave none).
    pub description: String,
    pub input_schema: Arc<JsonObject>,
    pub output_schema: Option<Arc<JsonObject>>,
    pub annotations: Option<ToolAnnotations>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceEntry {
    pub server: ServerName,
    pub uri: String,
    pub name: String,
    pub description: String,
    pub mime_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PromptArgumentInfo {
    pub name: String,
    pub description: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PromptEntry {
    pub server: ServerName,
    pub name: String,
    pub description: String,
    pub arguments: Vec<PromptArgumentInfo>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Increases with every rebuild, so consumers can tell snapshots apart.
    pub version: u64,
    pub tools: Vec<ToolEntry>,
    pub resources: Vec<ResourceEntry>,
    pub prompts: Vec<PromptEntry>,
}

impl Catalog {
    /// Builds the catalog from listings in server order (config order), tools in listing order.
    pub fn build(version: u64, listings: &[(ServerName, Arc<ServerListing>)]) -> Self {
        let mut taken = HashSet::new();
        let mut tools = Vec::new();
        let mut resources = Vec::new();
        let mut prompts = Vec::new();
        for (server, listing) in listings {
            for tool in &listing.tools {
                let qualified_name = unique_name(server.as_str(), &tool.name, &mut taken);
                tools.push(ToolEntry {
                    server: server.clone(),
                    name: tool.name.to_string(),
                    qualified_name,
                    title: tool
                        .title
                        .as_deref()
                        .or_else(|| tool.annotations.as_ref().and_then(|a| a.title.as_deref()))
                        .map(sanitize_line),
                    description: tool
                        .description
                        .as_deref()
                        .map(sanitize)
                        .unwrap_or_default(),
                    input_schema: tool.input_schema.clone(),
                    output_schema: tool.output_schema.clone(),
                    annotations: tool.annotations.clone(),
                });
            }
            for resource in &listing.resources {
                resources.push(ResourceEntry {
                    server: server.clone(),
                    uri: resource.uri.clone(),
                    name: sanitize_line(&resource.name),
                    description: resource
                        .description
                        .as_deref()
                        .map(sanitize)
                        .unwrap_or_default(),
                    mime_type: resource.mime_type.as_deref().map(sanitize_line),
                });
            }
            for prompt in &listing.prompts {
                prompts.push(PromptEntry {
                    server: server.clone(),
                    name: prompt.name.clone(),
                    description: prompt
                        .description
                        .as_deref()
                        .map(sanitize)
                        .unwrap_or_default(),
                    arguments: prompt
                        .arguments
                        .iter()
                        .flatten()
                        .map(|arg| PromptArgumentInfo {
                            name: sanitize_line(&arg.name),
                            description: arg
                                .description
                                .as_deref()
                                .map(sanitize)
                                .unwrap_or_default(),
                            required: arg.required.unwrap_or(false),
                        })
                        .collect(),
                });
            }
        }
        Self {
            version,
            tools,
            resources,
            prompts,
        }
    }

    pub fn tool_by_qualified(&self, qualified: &str) -> Option<&ToolEntry> {
        self.tools.iter().find(|t| t.qualified_name == qualified)
    }

    /// Finds a tool of `server` by the server's own name, or by its qualified name.
    pub fn resolve_tool(&self, server: &str, name: &str) -> Option<&ToolEntry> {
        self.tools
            .iter()
            .find(|t| t.server.as_str() == server && t.name == name)
            .or_else(|| {
                self.tool_by_qualified(name)
                    .filter(|t| t.server.as_str() == server)
            })
    }

    pub fn tools_of<'a>(&'a self, server: &'a str) -> impl Iterator<Item = &'a ToolEntry> + 'a {
        self.tools
            .iter()
            .filter(move |t| t.server.as_str() == server)
    }
}

/// `server__tool`, made safe for LLM function names and unique among `taken`.
fn unique_name(server: &str, tool: &str, taken: &mut HashSet<String>) -> String {
    let base = qualified_base(server, tool);
    let mut candidate = base.clone();
    let mut n = 2u32;
    while taken.contains(&candidate) {
        let suffix = format!("_{n}");
        candidate = format!("{}{suffix}", cut(&base, MAX_QUALIFIED_LEN - suffix.len()));
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

fn qualified_base(server: &str, tool: &str) -> String {
    let joined = format!("{}__{}", safe_chars(server), safe_chars(tool));
    if joined.len() <= MAX_QUALIFIED_LEN {
        return joined;
    }
    // Too long: keep a readable prefix and add a hash of the full original so two long names
    // that share a prefix still differ.
    let hash = format!(
        "_{:08x}",
        fnv1a(server.bytes().chain([0]).chain(tool.bytes())) as u32
    );
    format!("{}{hash}", cut(&joined, MAX_QUALIFIED_LEN - hash.len()))
}

fn safe_chars(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

/// `text` is ASCII here (see `safe_chars`), so byte slicing is character slicing.
fn cut(text: &str, max: usize) -> &str {
    &text[..text.len().min(max)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str) -> Tool {
        serde_json::from_value(json!({"name": name, "inputSchema": {"type": "object"}}))
            .expect("valid tool")
    }

    fn listing(names: &[&str]) -> Arc<ServerListing> {
        Arc::new(ServerListing {
            tools: names.iter().map(|n| tool(n)).collect(),
            ..ServerListing::default()
        })
    }

    #[test]
    fn qualifies_and_sanitizes_names() {
        let cat = Catalog::build(
            1,
            &[(
                ServerName::new("my server"),
                listing(&["read.file", "echo"]),
            )],
        );
        let names: Vec<_> = cat
            .tools
            .iter()
            .map(|t| t.qualified_name.as_str())
            .collect();
        assert_eq!(names, ["my_server__read_file", "my_server__echo"]);
        assert_eq!(cat.tools[0].name, "read.file");
    }

    #[test]
    fn deduplicates_names_that_sanitize_alike() {
        let cat = Catalog::build(
            1,
            &[
                (ServerName::new("a"), listing(&["x.y", "x_y"])),
                (ServerName::new("a."), listing(&["x_y"])),
            ],
        );
        let names: Vec<_> = cat
            .tools
            .iter()
            .map(|t| t.qualified_name.as_str())
            .collect();
        assert_eq!(names, ["a__x_y", "a__x_y_2", "a___x_y"]);
    }

    #[test]
    fn caps_length_with_a_stable_hash() {
        let long = "t".repeat(100);
        let cat = Catalog::build(1, &[(ServerName::new("srv"), listing(&[&long, &long]))]);
        let first = &cat.tools[0].qualified_name;
        let second = &cat.tools[1].qualified_name;
        assert_eq!(first.len(), MAX_QUALIFIED_LEN);
        assert!(first.starts_with("srv__ttt"));
        // FNV-1a of "srv\0ttt…", low 32 bits: the suffix must not change between versions.
        assert!(first.ends_with("_fb2dd5b6"), "{first}");
        assert!(second.len() <= MAX_QUALIFIED_LEN);
        assert_ne!(first, second);
        let again = Catalog::build(2, &[(ServerName::new("srv"), listing(&[&long]))]);
        assert_eq!(
            &again.tools[0].qualified_name, first,
            "stable across rebuilds"
        );
    }

    #[test]
    fn resolves_by_own_or_qualified_name_within_the_server() {
        let cat = Catalog::build(
            1,
            &[
                (ServerName::new("a"), listing(&["echo"])),
                (ServerName::new("b"), listing(&["echo"])),
            ],
        );
        assert_eq!(
            cat.resolve_tool("b", "echo").map(|t| t.server.as_str()),
            Some("b")
        );
        assert_eq!(
            cat.resolve_tool("a", "a__echo")
                .map(|t| t.qualified_name.as_str()),
            Some("a__echo")
        );
        assert!(cat.resolve_tool("a", "b__echo").is_none());
        assert!(cat.resolve_tool("a", "missing").is_none());
    }

    #[test]
    fn descriptions_are_sanitized() {
        let mut t = tool("x");
        t.description = Some("\u{1b}[31mred\u{1b}[0m text".into());
        let cat = Catalog::build(
            1,
            &[(
                ServerName::new("s"),
                Arc::new(ServerListing {
                    tools: vec![t],
                    ..ServerListing::default()
                }),
            )],
        );
        assert_eq!(cat.tools[0].description, "red text");
    }
}
