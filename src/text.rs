//! Text that servers supply is untrusted: descriptions, tool results, stderr and log lines can
//! carry terminal escape sequences that would move the cursor, recolour the dashboard, set the
//! window title or write to the clipboard (OSC 52). Everything a server says passes through
//! [`sanitize`] before it is drawn or printed to a terminal.

/// Removes terminal control sequences and control characters from `input`.
///
/// Kept: printable text, `\n`, and `\t` (expanded to spaces so column widths stay honest).
/// Removed: CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ST`), DCS/SOS/PM/APC strings, other
/// two-byte `ESC x` sequences, C0 controls (including `\r`, backspace, BEL) and C1 controls
/// (U+0080–U+009F, which some terminals treat like their `ESC` equivalents).
pub fn sanitize(input: &str) -> String {
    // Fast path: most text has nothing to strip.
    if !input.chars().any(needs_work) {
        return input.to_owned();
    }
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI/OSC/DCS etc. introduce strings just like their ESC forms.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Sanitizes and flattens to one line (for table cells and status lines).
pub fn sanitize_line(input: &str) -> String {
    let clean = sanitize(input);
    if clean.contains('\n') {
        clean.split('\n').collect::<Vec<_>>().join(" ")
    } else {
        clean
    }
}

fn needs_work(c: char) -> bool {
    c.is_control() && c != '\n'
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_string(chars),
        // Character-set designations take one more byte (ESC ( B).
        Some('(') | Some(')') | Some('*') | Some('+') | Some('#') | Some('%') => {
            chars.next();
        }
        // Any other two-byte escape (ESC 7, ESC c, ESC =, …) ends here.
        Some(_) | None => {}
    }
}

/// CSI: parameter and intermediate bytes, then one final byte in `@`..=`~`.
fn skip_csi(chars: &mut Chars<'_>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            return;
        }
    }
}

/// OSC/DCS/SOS/PM/APC: everything up to BEL, ST (`ESC \`) or C1 ST.
fn skip_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// A short human form of a duration: `250ms`, `1.5s`, `2m 5s`, `1h 3m`.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        let tenths = ms / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        let secs = d.as_secs();
        match secs {
            s if s < 60 => format!("{s}s"),
            s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
            s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        }
    }
}

/// An uptime to the second: `12s`, `3m 4s`, `1h 2m`, `2d 3h`.
pub fn human_uptime(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `1 tool`, `2 tools`.
/// Line breaks as `\n` whatever a terminal sent: bracketed paste carries CR (most terminals,
/// and tmux) or CRLF (Windows text) as often as LF.
pub fn unify_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Shortens `text` to at most `max` characters, marking the cut with `…`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    // Look only as far as `max`: the text may be megabytes long.
    if text.char_indices().nth(max).is_none() {
        return text.to_owned();
    }
    let cut = text
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    format!("{}…", &text[..cut])
}

/// `text` with an HTML page quoted in it (from `<!DOCTYPE html` or `<html` on) reduced to the
/// page's visible text; see [`html_visible_text`].
pub fn without_html(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    match ["<!doctype html", "<html"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
    {
        Some(start) => {
            let page = html_visible_text(&text[start..]);
            std::borrow::Cow::Owned(format!("{}{page}", &text[..start]))
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// The visible text of an HTML page ("Error Cannot GET /x" rather than its markup), or the
/// input unchanged when it does not start like an HTML document. Errors quote response
/// bodies, and web frameworks answer an unknown path with a whole page.
pub fn html_visible_text(body: &str) -> std::borrow::Cow<'_, str> {
    let start = body.trim_start();
    // Compared in place: a fixed-length slice could end inside a character ("<html><p>€").
    let starts_with = |prefix: &str| {
        start
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    if !(starts_with("<!doctype html") || starts_with("<html")) {
        return std::borrow::Cow::Borrowed(body);
    }
    // ASCII lower-casing keeps every byte offset, so `lower` indexes `body`.
    let lower = body.to_ascii_lowercase();
    let mut text = String::new();
    let mut at = 0;
    while let Some(offset) = lower[at..].find('<') {
        text.push_str(&body[at..at + offset]);
        let tag = at + offset;
        let hidden = ["<head", "<script", "<style"].iter().find(|open| {
            // `<head>` or `<head lang=…>`, not `<header>`.
            lower[tag..].starts_with(**open)
                && lower[tag + open.len()..]
                    .starts_with(|c: char| c == '>' || c == '/' || c.is_ascii_whitespace())
        });
        let resume = match hidden {
            // Skip the whole element, up to the end of its closing tag.
            Some(open) => lower[tag..]
                .find(&format!("</{}", &open[1..]))
                .and_then(|close| lower[tag + close..].find('>').map(|end| tag + close + end)),
            None => lower[tag..].find('>').map(|end| tag + end),
        };
        let Some(end) = resume else {
            at = body.len();
            break;
        };
        text.push(' ');
        at = end + 1;
    }
    text.push_str(&body[at..]);
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    std::borrow::Cow::Owned(decoded.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    #[test]
    fn pasted_line_breaks_are_unified() {
        assert_eq!(super::unify_line_breaks("a\rb\r\nc\nd\r"), "a\nb\nc\nd\n");
        assert_eq!(super::unify_line_breaks("\r\r\n"), "\n\n");
    }

    use super::*;

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(sanitize("hello, wörld\nline 2"), "hello, wörld\nline 2");
    }

    #[test]
    fn strips_csi_colours_and_cursor_moves() {
        assert_eq!(
            sanitize("\u{1b}[31mred\u{1b}[0m \u{1b}[2J\u{1b}[10;5Hx"),
            "red x"
        );
    }

    #[test]
    fn strips_osc_title_and_clipboard_writes() {
        assert_eq!(sanitize("a\u{1b}]0;evil title\u{7}b"), "ab");
        assert_eq!(sanitize("a\u{1b}]52;c;ZXZpbA==\u{1b}\\b"), "ab");
    }

    #[test]
    fn strips_dcs_and_c1_controls() {
        assert_eq!(sanitize("a\u{1b}Pq#0;2;0;0;0\u{1b}\\b"), "ab");
        assert_eq!(sanitize("a\u{9b}31mb\u{9d}title\u{9c}c"), "abc");
    }

    #[test]
    fn strips_c0_controls_but_keeps_newlines_and_expands_tabs() {
        assert_eq!(sanitize("a\rb\u{8}c\u{7}d\te\nf"), "abcd    e\nf");
    }

    #[test]
    fn unterminated_sequences_do_not_swallow_more_than_the_rest() {
        assert_eq!(sanitize("ok\u{1b}[31"), "ok");
        assert_eq!(sanitize("ok\u{1b}]0;never ends"), "ok");
    }

    #[test]
    fn sanitize_line_flattens_newlines() {
        assert_eq!(sanitize_line("a\nb\u{1b}[1m\nc"), "a b c");
    }

    #[test]
    fn human_durations() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human_duration(Duration::from_secs(3780)), "1h 3m");
    }

    #[test]
    fn uptimes_and_plurals() {
        use std::time::Duration;
        assert_eq!(human_uptime(Duration::from_millis(1900)), "1s");
        assert_eq!(human_uptime(Duration::from_secs(184)), "3m 4s");
        assert_eq!(human_uptime(Duration::from_secs(7320)), "2h 2m");
        assert_eq!(human_uptime(Duration::from_secs(183_600)), "2d 3h");
        assert_eq!(plural(1, "prompt", "prompts"), "1 prompt");
        assert_eq!(plural(0, "prompt", "prompts"), "0 prompts");
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("abc", 4), "abc");
    }

    #[test]
    fn html_pages_shrink_to_their_visible_text() {
        let express = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                       <title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /nothing-here</pre>\n\
                       </body>\n</html>\n";
        assert_eq!(html_visible_text(express), "Cannot GET /nothing-here");
        let nginx = "<html><head><style>b{}</style></head><body><h1>404 Not Found</h1>\
                     <script>x()</script><hr><center>nginx &amp; co &lt;1&gt;</center></body></html>";
        assert_eq!(html_visible_text(nginx), "404 Not Found nginx & co <1>");
        let header = "<html><body><header>Site</header><p>Gone</p></body></html>";
        assert_eq!(html_visible_text(header), "Site Gone");
        // Not HTML: left alone, whitespace and all.
        assert_eq!(
            html_visible_text("{\"error\": \"a < b\"}"),
            "{\"error\": \"a < b\"}"
        );
        assert_eq!(html_visible_text("plain  text"), "plain  text");
        assert_eq!(
            without_html("HTTP 404 Not Found: <!DOCTYPE html><html><body>Gone</body></html>"),
            "HTTP 404 Not Found: Gone"
        );
        assert_eq!(without_html("no markup"), "no markup");
        // A character that straddles the 14th byte does not hide the page.
        assert_eq!(html_visible_text("<html><body>€5</body></html>"), "€5");
        // Unclosed markup does not lose what came before it.
        assert_eq!(html_visible_text("<html><p>kept <b"), "kept");
    }
}
