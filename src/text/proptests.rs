//! Property tests of the text sanitising helpers over arbitrary text: they never panic,
//! sanitised text holds no control character but `\n` (so no ESC, no C1), sanitising twice
//! changes nothing, and truncation keeps a prefix within the limit.

use proptest::prelude::*;

use super::{html_visible_text, sanitize, sanitize_line, truncate_chars, without_html};

/// Characters that matter to the sanitiser (escape introducers, the bytes that end escape
/// sequences, C0 and C1 controls, wide and combining characters), then any character at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec![
            '\u{1b}', '[', ']', 'P', 'X', '^', '_', '(', '#', '\\', '\u{7}', '\u{9b}', '\u{9c}',
            '\u{9d}', '\u{90}', '\u{85}', '\u{7f}', '\t', '\n', '\r', '\u{0}', ';', '3', '1', 'm',
            'a', ' ', 'é', '界', '\u{301}', '\u{202e}',
        ]),
        1 => any::<char>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..64).prop_map(String::from_iter)
}

/// HTML-ish text: tags (hidden ones too, in any case), entities, and the characters around
/// them, so the byte offsets `html_visible_text` slices at land everywhere.
fn html_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "<!DOCTYPE html>",
            "<html>",
            "<HTML lang=x>",
            "<head>",
            "<Head/>",
            "</head>",
            "<header>",
            "<script>",
            "</script>",
            "<style ",
            "</style>",
            "<p>",
            "</p>",
            "<",
            ">",
            "&amp;",
            "&lt;",
            "&gt;",
            "&quot;",
            "&#39;",
            "&nbsp;",
            "é",
            "界",
            " ",
            "\n",
            "text",
        ])
        .prop_map(str::to_owned),
        text(),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

/// What `sanitize` must keep of text that holds no escape sequence: everything but control
/// characters, with `\n` kept and `\t` as four spaces.
fn without_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\n'],
            '\t' => vec![' '; 4],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sanitized_text_has_no_control_characters_but_newlines(input in text()) {
        let clean = sanitize(&input);
        prop_assert!(
            clean.chars().all(|c| c == '\n' || !c.is_control()),
            "{:?} -> {:?}", input, clean
        );
        let line = sanitize_line(&input);
        prop_assert!(line.chars().all(|c| !c.is_control()), "{:?} -> {:?}", input, line);
        prop_assert_eq!(line, clean.replace('\n', " "));
    }

    #[test]
    fn sanitizing_twice_changes_nothing(input in text()) {
        let once = sanitize(&input);
        prop_assert_eq!(sanitize(&once), once.clone());
        prop_assert_eq!(sanitize_line(&once), once.replace('\n', " "));
    }

    #[test]
    fn text_without_escapes_only_loses_its_controls(input in text()) {
        // ESC and the C1 introducers start sequences that swallow what follows.
        let input: String = input
            .chars()
            .filter(|c| !matches!(c, '\u{1b}' | '\u{9b}' | '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}'))
            .collect();
        prop_assert_eq!(sanitize(&input), without_controls(&input));
    }

    #[test]
    fn truncation_keeps_a_prefix_within_the_limit(input in text(), max in 0usize..80) {
        let cut = truncate_chars(&input, max);
        let count = input.chars().count();
        if count <= max {
            prop_assert_eq!(cut, input);
        } else {
            prop_assert!(cut.chars().count() <= max.max(1), "{:?} at {}: {:?}", input, max, cut);
            let kept = cut.strip_suffix('…').expect("the cut is marked");
            prop_assert!(input.starts_with(kept));
            prop_assert_eq!(kept.chars().count(), max.saturating_sub(1));
        }
    }

    #[test]
    fn html_reduction_never_panics_and_leaves_other_text_alone(input in html_like()) {
        let visible = html_visible_text(&input);
        let starts_like_html = {
            let start = input.trim_start().to_ascii_lowercase();
            start.starts_with("<!doctype html") || start.starts_with("<html")
        };
        if starts_like_html {
            prop_assert_eq!(visible.split_whitespace().collect::<Vec<_>>().join(" "), visible.as_ref());
        } else {
            prop_assert_eq!(visible.as_ref(), input.as_str());
        }
        let reduced = without_html(&input);
        let lower = input.to_ascii_lowercase();
        if !lower.contains("<!doctype html") && !lower.contains("<html") {
            prop_assert_eq!(reduced.as_ref(), input.as_str());
        }
    }
}
