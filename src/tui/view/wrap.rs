//! Word wrapping by display width (CJK and emoji count double). Kept small and allocation-light
//! because the chat view wraps entries on demand while scrolling.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Wraps `text` to lines of at most `width` columns. Breaks at spaces where it can and splits
/// words longer than a line. Existing newlines are kept; an empty text is one empty line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for paragraph in text.split('\n') {
        wrap_paragraph(paragraph, width, &mut out);
    }
    out
}

/// How many lines `wrap(text, width)` would produce, without building them.
pub fn wrapped_height(text: &str, width: usize) -> usize {
    let width = width.max(1);
    text.split('\n')
        .map(|paragraph| {
            if paragraph.width() <= width {
                1
            } else {
                let mut lines = Vec::new();
                wrap_paragraph(paragraph, width, &mut lines);
                lines.len()
            }
        })
        .sum()
}

fn wrap_paragraph(paragraph: &str, width: usize, out: &mut Vec<String>) {
    if paragraph.width() <= width {
        out.push(paragraph.to_owned());
        return;
    }
    let mut line = String::new();
    let mut line_width = 0;
    for word in paragraph.split(' ') {
        let word_width = word.width();
        let space = usize::from(!line.is_empty());
        if line_width + space + word_width <= width {
            if space == 1 {
                line.push(' ');
            }
            line.push_str(word);
            line_width += space + word_width;
            continue;
        }
        if !line.is_empty() {
            out.push(std::mem::take(&mut line));
            line_width = 0;
        }
        if word_width <= width {
            line.push_str(word);
            line_width = word_width;
        } else {
            // A word longer than the line: split it by characters.
            for c in word.chars() {
                let w = c.width().unwrap_or(0);
                if line_width + w > width && !line.is_empty() {
                    out.push(std::mem::take(&mut line));
                    line_width = 0;
                }
                line.push(c);
                line_width += w;
            }
        }
    }
    out.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("the quick brown fox", 10), ["the quick", "brown fox"]);
    }

    #[test]
    fn keeps_newlines_and_empty_lines() {
        assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn splits_long_words() {
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn counts_wide_characters_double() {
        assert_eq!(wrap("日本語テキスト", 6), ["日本語", "テキス", "ト"]);
    }

    #[test]
    fn height_matches_wrap() {
        for text in [
            "the quick brown fox jumps",
            "a\nbb ccc\n\ndddd",
            "x".repeat(50).as_str(),
        ] {
            for width in [1, 3, 7, 20, 80] {
                assert_eq!(
                    wrapped_height(text, width),
                    wrap(text, width).len(),
                    "{text:?} at {width}"
                );
            }
        }
    }
}
