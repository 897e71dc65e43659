//! Tool-call arguments as the approval prompt shows them: every value whole, a string with
//! line breaks shown as real lines (each marked `│`, so a line of the string can never pass
//! for a key), characters that could hide or reorder text (controls, bidirectional overrides,
//! zero-width characters) shown as visible escapes, and every line hard-wrapped to the width
//! without losing a character. Nothing is cut: the prompt scrolls instead.

use serde_json::Value;
use unicode_width::UnicodeWidthChar;

/// Indentation per nesting level.
const INDENT: &str = "  ";

/// The lines of `value`, each at most `width` columns.
pub fn argument_lines(value: &Value, width: usize) -> Vec<String> {
    let mut logical = Vec::new();
    render(value, 0, String::new(), &mut logical);
    logical
        .iter()
        .flat_map(|line| hard_wrap(line, width.max(8)))
        .collect()
}

/// Appends `value`'s lines at `depth`, the first line starting with `lead` (`"key": `).
fn render(value: &Value, depth: usize, lead: String, out: &mut Vec<String>) {
    let pad = INDENT.repeat(depth);
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push(format!("{pad}{lead}{{"));
            let last = map.len() - 1;
            for (i, (key, item)) in map.iter().enumerate() {
                let key_lead = format!("{}: ", quoted(key));
                let start = out.len();
                render(item, depth + 1, key_lead, out);
                if i < last {
                    push_comma(out, start);
                }
            }
            out.push(format!("{pad}}}"));
        }
        Value::Array(items) if !items.is_empty() => {
            out.push(format!("{pad}{lead}["));
            let last = items.len() - 1;
            for (i, item) in items.iter().enumerate() {
                let start = out.len();
                render(item, depth + 1, String::new(), out);
                if i < last {
                    push_comma(out, start);
                }
            }
            out.push(format!("{pad}]"));
        }
        Value::String(text) if text.contains('\n') => {
            let lines: Vec<&str> = text.split('\n').collect();
            out.push(format!(
                "{pad}{lead}text of {} lines, {} characters:",
                lines.len(),
                text.chars().count()
            ));
            for line in lines {
                out.push(format!("{pad}{INDENT}│ {}", escape_visible(line)));
            }
        }
        Value::String(text) => out.push(format!("{pad}{lead}{}", quoted(text))),
        other => out.push(format!("{pad}{lead}{other}")),
    }
}

/// A comma after an item; after a multi-line string it goes on a line of its own so it is not
/// read as part of the string.
fn push_comma(out: &mut Vec<String>, item_start: usize) {
    let multi_line_string = out
        .get(item_start)
        .is_some_and(|first| first.ends_with(" characters:"));
    match out.last_mut() {
        Some(last) if !multi_line_string => last.push(','),
        _ => out.push(",".to_owned()),
    }
}

/// A JSON string literal with every invisible or reordering character escaped.
fn quoted(text: &str) -> String {
    format!("\"{}\"", escape_visible(text).replace('"', "\\\""))
}

/// `text` with control characters, bidirectional controls and zero-width characters shown as
/// escapes (`\t`, `\r`, `\u{202e}` …), so what is shown is what the server will receive.
pub fn escape_visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional embeddings, overrides and isolates, and the implicit marks.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
            // Zero-width characters and the byte-order mark, which hide text.
            | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}'
        )
}

/// Splits `line` into pieces of at most `width` columns, keeping every character (spaces
/// included); continuation pieces are indented like the line, plus a `↳` mark.
fn hard_wrap(line: &str, width: usize) -> Vec<String> {
    let indent: String = line.chars().take_while(|c| *c == ' ').collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            current.push_str(&indent);
            current.push_str("↳ ");
            used = indent.len() + 2;
        }
        current.push(c);
        used += w;
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_multi_line_string_shows_every_line_and_nothing_is_cut() {
        let script: String = (1..=60)
            .map(|i| format!("echo step {i}\n"))
            .chain(std::iter::once("rm -rf / --no-preserve-root".to_owned()))
            .collect();
        let lines = argument_lines(&json!({"script": script, "cwd": "/"}), 80);
        assert_eq!(lines[0], "{");
        assert_eq!(lines[1], "  \"script\": text of 61 lines, 798 characters:");
        assert_eq!(lines[2], "    │ echo step 1");
        assert_eq!(lines[62], "    │ rm -rf / --no-preserve-root");
        assert_eq!(lines[63], ",");
        assert_eq!(lines[64], "  \"cwd\": \"/\"");
        assert_eq!(lines.len(), 66);
    }

    #[test]
    fn controls_and_bidi_overrides_are_shown_escaped() {
        let lines = argument_lines(
            &json!({"name": "invoice\u{202e}fdp.exe", "x": "a\u{1b}[31mred\tb\u{200b}"}),
            80,
        );
        assert_eq!(lines[1], "  \"name\": \"invoice\\u{202e}fdp.exe\",");
        assert_eq!(lines[2], "  \"x\": \"a\\u{1b}[31mred\\tb\\u{200b}\"");
        assert!(lines.iter().all(|l| !l.chars().any(needs_escape)));
    }

    #[test]
    fn long_lines_wrap_without_losing_a_character() {
        let long = "word ".repeat(40);
        let lines = argument_lines(&json!({"text": long}), 30);
        assert!(
            lines
                .iter()
                .all(|l| unicode_width::UnicodeWidthStr::width(l.as_str()) <= 30)
        );
        let joined: String = lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.trim_start().trim_start_matches("↳ "))
            .collect();
        assert!(joined.contains(&long.replace('"', "")), "{joined}");
    }

    #[test]
    fn nested_values_and_empty_containers() {
        let lines = argument_lines(&json!({"a": [1, {"b": null}], "c": {}, "d": []}), 80);
        assert_eq!(
            lines,
            vec![
                "{",
                "  \"a\": [",
                "    1,",
                "    {",
                "      \"b\": null",
                "    }",
                "  ],",
                "  \"c\": {},",
                "  \"d\": []",
                "}",
            ]
        );
    }
}
