//! Syntax highlighting with syntect, converted to ratatui lines. Loading syntect's default
//! syntaxes and themes costs milliseconds and highlighting a big schema more, so both happen off
//! the UI thread (the app loop runs [`highlight_json`] in `spawn_blocking` and caches the lines);
//! the sets load once per process.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;

struct Sets {
    syntaxes: SyntaxSet,
    themes: ThemeSet,
}

fn sets() -> &'static Sets {
    static SETS: OnceLock<Sets> = OnceLock::new();
    SETS.get_or_init(|| Sets {
        syntaxes: SyntaxSet::load_defaults_newlines(),
        themes: ThemeSet::load_defaults(),
    })
}

/// Names of the syntect themes that can go in a theme file's `syntax_theme`.
pub fn syntax_theme_names() -> Vec<String> {
    sets().themes.themes.keys().cloned().collect()
}

/// Highlights `text` as JSON with the syntect theme `theme_name`. Unknown theme names and
/// parse failures fall back to plain lines: highlighting is decoration, never a failure.
pub fn highlight_json(text: &str, theme_name: &str) -> Vec<Line<'static>> {
    let sets = sets();
    let (Some(syntax), Some(theme)) = (
        sets.syntaxes.find_syntax_by_extension("json"),
        sets.themes.themes.get(theme_name),
    ) else {
        return plain_lines(text);
    };
    let mut highlighter = HighlightLines::new(syntax, theme);
    let mut lines = Vec::new();
    for line in syntect::util::LinesWithEndings::from(text) {
        let Ok(regions) = highlighter.highlight_line(line, &sets.syntaxes) else {
            return plain_lines(text);
        };
        let spans: Vec<Span<'static>> = regions
            .into_iter()
            .map(|(style, piece)| {
                Span::styled(
                    piece.trim_end_matches(['\n', '\r']).to_owned(),
                    convert(style),
                )
            })
            .filter(|span| !span.content.is_empty())
            .collect();
        lines.push(Line::from(spans));
    }
    lines
}

pub fn plain_lines(text: &str) -> Vec<Line<'static>> {
    text.lines().map(|l| Line::raw(l.to_owned())).collect()
}

/// syntect style → ratatui style. The background is left to the terminal so highlighted
/// text sits on the same background as everything else.
fn convert(style: syntect::highlighting::Style) -> Style {
    let fg = style.foreground;
    let mut out = Style::default().fg(Color::Rgb(fg.r, fg.g, fg.b));
    if style.font_style.contains(FontStyle::BOLD) {
        out = out.add_modifier(Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        out = out.add_modifier(Modifier::ITALIC);
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        out = out.add_modifier(Modifier::UNDERLINED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_gets_coloured_spans_and_keeps_the_text() {
        let text = "{\n  \"type\": \"object\",\n  \"n\": 5\n}";
        let lines = highlight_json(text, "base16-ocean.dark");
        assert_eq!(lines.len(), 4);
        let rendered: Vec<String> = lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(
            rendered,
            ["{", "  \"type\": \"object\",", "  \"n\": 5", "}"]
        );
        let colours: std::collections::HashSet<_> =
            lines[1].spans.iter().map(|s| s.style.fg).collect();
        assert!(
            colours.len() >= 2,
            "key and value are coloured differently: {colours:?}"
        );
    }

    #[test]
    fn unknown_theme_falls_back_to_plain() {
        let lines = highlight_json("{\"a\": 1}", "no-such-theme");
        assert_eq!(lines, vec![Line::raw("{\"a\": 1}")]);
    }

    #[test]
    fn bundled_theme_files_name_existing_syntax_themes() {
        let names = syntax_theme_names();
        for theme in ["dark", "light", "high-contrast"] {
            let t = crate::tui::theme::Theme::bundled(theme).expect("bundled");
            let syntax = t.syntax_theme.expect("has syntax theme");
            assert!(
                names.contains(&syntax),
                "{theme}: {syntax} not in {names:?}"
            );
        }
    }
}
