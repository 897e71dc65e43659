//! Errors as a person reads them: one line, the error followed by its causes. Libraries wrap
//! errors in layers ("error sending request" → "client error (Connect)" → "Connection
//! refused") and the useful part is usually the innermost; their own messages can repeat each
//! other, quote an HTML error page, or carry control characters from a server. Used for every
//! transport and LLM error the runtime reports.

use crate::text::{sanitize_line, without_html};

/// `error: its source: its source…` as one sanitized line, skipping a cause whose text is
/// already included (hyper and reqwest often wrap an error and repeat its message) and
/// reducing a quoted HTML page to its visible text.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let part = collapse_spaces(&sanitize_line(&without_html(&e.to_string())));
        if !part.is_empty() && !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        current = e.source();
    }
    text
}

/// Runs of whitespace become one space (an error message is one line in a table cell).
pub fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: String,
        #[source]
        inner: Option<Box<Layer>>,
    }

    fn layers(texts: &[&str]) -> Layer {
        texts
            .iter()
            .rev()
            .fold(None, |inner, text| {
                Some(Layer {
                    text: (*text).to_owned(),
                    inner: inner.map(Box::new),
                })
            })
            .expect("at least one layer")
    }

    #[test]
    fn joins_causes_and_skips_repeats() {
        let error = layers(&[
            "error sending request",
            "client error (Connect)",
            "client error (Connect)",
            "tcp connect error: Connection refused",
            "Connection refused",
        ]);
        assert_eq!(
            error_chain(&error),
            "error sending request: client error (Connect): tcp connect error: Connection refused"
        );
    }

    #[test]
    fn one_clean_line() {
        let error = layers(&[
            "HTTP 404\n<!DOCTYPE html><html><head><title>x</title></head><body>Not\there</body></html>",
            "\u{1b}[31mred\u{1b}[0m  cause",
        ]);
        let text = error_chain(&error);
        assert!(!text.contains(['\n', '\u{1b}', '<']), "{text}");
        assert!(text.starts_with("HTTP 404 Not here"), "{text}");
        assert!(text.ends_with(": red cause"), "{text}");
    }
}
