//! Printing headless results. Tables for people, `--json` for programs. Output to a terminal
//! is sanitized (a server's text must not drive the terminal); output to a pipe is passed
//! through as the server sent it, so results round-trip. A closed pipe (`| head`) ends output
//! quietly instead of panicking.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use rmcp::model::{GetPromptResult, Role};
use serde::Serialize;

use crate::runtime::Snapshots;
use crate::runtime::catalog::Catalog;
use crate::runtime::content::block_text;
use crate::text::{sanitize, sanitize_line, truncate_chars};

pub struct Out {
    writer: BufWriter<Stdout>,
    terminal: bool,
    broken: bool,
}

impl Out {
    pub fn stdout() -> Self {
        let stdout = io::stdout();
        Self {
            terminal: stdout.is_terminal(),
            writer: BufWriter::new(stdout),
            broken: false,
        }
    }

    /// Server text made safe for where it is going.
    pub fn clean(&self, text: &str) -> String {
        if self.terminal {
            sanitize(text)
        } else {
            text.to_owned()
        }
    }

    pub fn text(&mut self, text: &str) {
        let text = self.clean(text);
        self.write(&text);
        if !text.ends_with('\n') {
            self.write("\n");
        }
    }

    pub fn json<T: Serialize>(&mut self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => {
                self.write(&text);
                self.write("\n");
            }
            Err(error) => eprintln!("mcpomni: cannot print as JSON: {error}"),
        }
    }

    fn write(&mut self, text: &str) {
        if self.broken {
            return;
        }
        if let Err(error) = self.writer.write_all(text.as_bytes()) {
            self.fail(error);
        }
    }

    fn fail(&mut self, error: io::Error) {
        self.broken = true;
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("mcpomni: cannot write output: {error}");
        }
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if !self.broken
            && let Err(error) = self.writer.flush()
        {
            self.fail(error);
        }
    }
}

/// Rows of cells as aligned columns (last column unpadded).
fn table(out: &mut Out, header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let render = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                line.push_str(&cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        line.trim_end().to_owned()
    };
    out.text(&render(header.iter().map(|h| (*h).to_owned()).collect()));
    for row in rows {
        out.text(&render(row));
    }
}

/// The Servers list. `--json` fields (listed in the README): `name`, `transport`, `state`
/// (the Servers pane's word), `tools`, `resources`, `prompts`, `protocol_version`,
/// `server_name`, `server_version`, `last_error`, `stderr_tail` (from `stderr_tail(name)`).
pub fn servers(
    out: &mut Out,
    snapshots: &Snapshots,
    json: bool,
    stderr_tail: &dyn Fn(&str) -> Vec<String>,
) {
    if json {
        let list: Vec<_> = snapshots
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name.as_str(),
                    "transport": s.transport.label(),
                    "url": s.url,
                    "state": s.state.label(),
                    "tools": s.tool_count,
                    "resources": s.resource_count,
                    "prompts": s.prompt_count,
                    "protocol_version": s.protocol_version,
                    "server_name": s.identity.as_ref().map(|i| i.name.clone()),
                    "server_version": s.identity.as_ref().map(|i| i.version.clone()),
                    "last_error": s.last_error,
                    "stderr_tail": stderr_tail(s.name.as_str()),
                })
            })
            .collect();
        out.json(&list);
        return;
    }
    let rows = snapshots
        .iter()
        .map(|s| {
            vec![
                s.name.to_string(),
                s.state.label().to_owned(),
                s.transport.label().to_owned(),
                format!("{}/{}/{}", s.tool_count, s.resource_count, s.prompt_count),
                s.protocol_version.clone().unwrap_or_else(|| "-".into()),
                s.identity
                    .as_ref()
                    .map(|i| format!("{} {}", i.name, i.version))
                    .unwrap_or_else(|| "-".into()),
                s.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "SERVER",
            "STATE",
            "TRANSPORT",
            "T/R/P",
            "PROTOCOL",
            "IMPLEMENTATION",
            "ERROR",
        ],
        rows,
    );
}

/// One JSON object per tool: `server`, `name`, `qualified_name`, `description`, `input_schema`.
pub fn tools(out: &mut Out, catalog: &Catalog, json: bool) {
    if json {
        let list: Vec<_> = catalog
            .tools
            .iter()
            .map(|t| {
                serde_json::json!({
                    "server": t.server.as_str(),
                    "name": t.name,
                    "qualified_name": t.qualified_name,
                    "description": t.description,
                    "input_schema": &*t.input_schema,
                })
            })
            .collect();
        out.json(&list);
        return;
    }
    let rows = catalog
        .tools
        .iter()
        .map(|t| {
            vec![
                t.server.to_string(),
                sanitize_line(&t.name),
                truncate_chars(
                    &sanitize_line(t.description.lines().next().unwrap_or("")),
                    80,
                ),
            ]
        })
        .collect();
    table(out, &["SERVER", "TOOL", "DESCRIPTION"], rows);
}

pub fn resources(out: &mut Out, catalog: &Catalog, json: bool) {
    if json {
        let list: Vec<_> = catalog
            .resources
            .iter()
            .map(|r| {
                serde_json::json!({
                    "server": r.server.as_str(),
                    "uri": r.uri,
                    "name": r.name,
                    "description": r.description,
                    "mime_type": r.mime_type,
                })
            })
            .collect();
        out.json(&list);
        return;
    }
    let rows = catalog
        .resources
        .iter()
        .map(|r| {
            vec![
                r.server.to_string(),
                sanitize_line(&r.uri),
                r.mime_type.clone().unwrap_or_else(|| "-".into()),
                r.name.clone(),
            ]
        })
        .collect();
    table(out, &["SERVER", "URI", "TYPE", "NAME"], rows);
}

pub fn prompts(out: &mut Out, catalog: &Catalog, json: bool) {
    if json {
        let list: Vec<_> = catalog
            .prompts
            .iter()
            .map(|p| {
                serde_json::json!({
                    "server": p.server.as_str(),
                    "name": p.name,
                    "description": p.description,
                    "arguments": p.arguments.iter().map(|a| serde_json::json!({
                        "name": a.name, "description": a.description, "required": a.required,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        out.json(&list);
        return;
    }
    let rows = catalog
        .prompts
        .iter()
        .map(|p| {
            let args = p
                .arguments
                .iter()
                .map(|a| {
                    if a.required {
                        a.name.clone()
                    } else {
                        format!("[{}]", a.name)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                p.server.to_string(),
                sanitize_line(&p.name),
                args,
                truncate_chars(
                    &sanitize_line(p.description.lines().next().unwrap_or("")),
                    60,
                ),
            ]
        })
        .collect();
    table(out, &["SERVER", "PROMPT", "ARGUMENTS", "DESCRIPTION"], rows);
}

pub fn prompt_messages(out: &mut Out, result: &GetPromptResult) {
    if let Some(description) = &result.description {
        out.text(&format!("# {description}"));
    }
    for message in &result.messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        out.text(&format!("{role}: {}", block_text(&message.content)));
    }
}
