//! The full-screen pager: any long text (a tool call's whole result, a trace step with the
//! exact request it sent) read a screen at a time. The text is kept once, sanitized, with its
//! line starts; its wrapped rows are a memo for the last width drawn, because wrapping
//! megabytes takes tens of milliseconds and must not happen per frame.

use std::cell::RefCell;

use super::call::ResultText;

#[derive(Debug)]
pub struct Pager {
    /// What is shown, e.g. a tool's name or "step 12 · model request".
    pub title: String,
    pub text: ResultText,
    /// Display rows scrolled past the top.
    pub scroll: usize,
    /// The text wrapped for one width (filled by the view).
    pub rows: RefCell<Option<PagerRows>>,
}

impl Pager {
    pub fn new(title: impl Into<String>, text: ResultText) -> Self {
        Self {
            title: title.into(),
            text,
            scroll: 0,
            rows: RefCell::new(None),
        }
    }
}

/// Display rows of a text at one width: byte ranges into it.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerRows {
    pub width: usize,
    pub rows: Vec<(usize, usize)>,
}

impl PagerRows {
    /// Wraps every line of `text` into rows of at most `width` characters.
    pub fn wrap(text: &ResultText, width: usize) -> Self {
        let width = width.max(1);
        let mut rows = Vec::new();
        for index in 0..text.line_count() {
            let start = text.line_starts[index];
            let line = text.line(index);
            if line.is_empty() {
                rows.push((start, start));
                continue;
            }
            let mut row_start = start;
            let mut chars = 0;
            for (offset, _) in line.char_indices() {
                if chars == width {
                    rows.push((row_start, start + offset));
                    row_start = start + offset;
                    chars = 0;
                }
                chars += 1;
            }
            rows.push((row_start, start + line.len()));
        }
        Self { width, rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_wrap_long_lines_by_characters() {
        let text = ResultText::new("abcdefgh\n\nxé", false);
        let rows = PagerRows::wrap(&text, 3);
        let texts: Vec<&str> = rows.rows.iter().map(|(a, b)| &text.text[*a..*b]).collect();
        assert_eq!(texts, ["abc", "def", "gh", "", "xé"]);
    }
}
