//! Unit tests of the SSE framing filter and endpoint resolution.
use super::*;

fn feed(framing: &mut Framing, chunks: &[&[u8]]) -> String {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(framing.push(chunk).ok().unwrap());
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn framing_normalizes_line_ends_and_drops_bad_lines() {
    let mut framing = Framing::new(1024);
    let out = feed(
        &mut framing,
        &[
            b"\xEF\xBB\xBFevent: endpoint\r",
            b"\ndata: /m?x=1\r\r",
            b": keep-alive\nbogus line\nfoo: bar\nevent: a\nevent: b\nretry: x\ndata\n\n",
        ],
    );
    assert_eq!(out, "event: endpoint\ndata: /m?x=1\n\nevent: a\ndata:\n\n");
}

#[test]
fn framing_caps_events_and_unterminated_lines() {
    let mut framing = Framing::new(16);
    assert!(framing.push(b"data: 0123456789\n\n").is_ok());
    assert!(framing.push(b"data: 0123456789\n").is_ok());
    assert!(framing.push(b"data: x\n").is_err());
    let mut framing = Framing::new(16);
    assert!(framing.push(b"data: 01234").is_ok());
    assert!(framing.push(b"56789abcdef").is_err());
}

#[test]
fn endpoint_resolution() {
    let base = Url::parse("http://127.0.0.1:3001/sse").unwrap();
    let relative = resolve_endpoint(&base, Some("/message?sessionId=1")).unwrap();
    assert_eq!(
        relative.as_str(),
        "http://127.0.0.1:3001/message?sessionId=1"
    );
    let absolute = resolve_endpoint(&base, Some("http://127.0.0.1:3001/m/?s=2")).unwrap();
    assert_eq!(absolute.as_str(), "http://127.0.0.1:3001/m/?s=2");
    for bad in [
        "http://127.0.0.1:3002/m",
        "https://127.0.0.1:3001/m",
        "http://evil/m",
    ] {
        let error = resolve_endpoint(&base, Some(bad)).unwrap_err();
        assert!(error.to_string().contains("differs"), "{error}");
    }
    assert!(resolve_endpoint(&base, None).is_err());
    assert!(resolve_endpoint(&base, Some("http://[::1")).is_err());
}

#[test]
fn config_debug_hides_header_values() {
    let mut config = SseClientConfig::new("http://127.0.0.1:1/sse");
    config
        .headers
        .push(("Authorization".into(), "Bearer secret".into()));
    let debug = format!("{config:?}");
    assert!(
        debug.contains("Authorization") && !debug.contains("secret"),
        "{debug}"
    );
}

#[test]
fn one_line_collapses_and_cuts() {
    assert_eq!(one_line("a\n b\tc", 100), "a b c");
    assert_eq!(one_line("abcdef", 3), "abc…");
    assert_eq!(one_line("abc def", 3), "abc…");
    assert_eq!(one_line("abc", 3), "abc");
}
