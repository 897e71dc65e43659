//! Unit tests of the SSE framing filter and endpoint resolution.
use super::*;

fn event(kind: &str, data: &str, id: &str) -> SseEvent {
    SseEvent {
        kind: kind.to_owned(),
        data: data.to_owned(),
        last_event_id: id.to_owned(),
    }
}

/// Feeds `chunks` in order; also checks that byte-by-byte feeding gives the same events.
fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut framing = Framing::new(1024);
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(framing.push(chunk).expect("within the limit"));
    }
    let mut one_by_one = Framing::new(1024);
    let mut again = Vec::new();
    for byte in chunks.concat() {
        again.extend(one_by_one.push(&[byte]).expect("within the limit"));
    }
    assert_eq!(events, again, "chunking must not change the events");
    events
}

// The examples of the WHATWG standard, §9.2.6 "Interpreting an event stream".
#[test]
fn spec_example_data_lines_are_joined() {
    assert_eq!(
        parse(&[b"data: YHOO\ndata: +2\ndata: 10\n\n"]),
        [event("message", "YHOO\n+2\n10", "")]
    );
}

#[test]
fn spec_example_ids_persist_until_reset() {
    let stream = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
    assert_eq!(
        parse(&[stream, b"\n"]),
        [
            event("message", "first event", "1"),
            event("message", "second event", ""),
            event("message", " third event", ""),
        ]
    );
}

#[test]
fn spec_example_empty_data_and_an_unfinished_event() {
    assert_eq!(
        parse(&[b"data\n\ndata\ndata\n\ndata:"]),
        [event("message", "", ""), event("message", "\n", "")],
        "the last event has no blank line after it: it is never dispatched"
    );
    assert_eq!(
        parse(&[b"data:test\n\ndata: test\n\n"]),
        [event("message", "test", ""), event("message", "test", "")]
    );
}

#[test]
fn the_last_event_field_wins_and_is_reset_after_dispatch() {
    assert_eq!(
        parse(&[b"event: a\nevent: b\ndata: x\n\ndata: y\n\n"]),
        [event("b", "x", ""), event("message", "y", "")]
    );
    // An event type without data dispatches nothing, and does not leak into the next event.
    assert_eq!(
        parse(&[b"event: endpoint\n\ndata: z\n\n"]),
        [event("message", "z", "")]
    );
    // `event:` with an empty value means the default type.
    assert_eq!(
        parse(&[b"event: a\nevent:\ndata: x\n\n"]),
        [event("message", "x", "")]
    );
}

#[test]
fn id_and_retry_follow_the_spec() {
    let mut framing = Framing::new(1024);
    let events = framing
        .push(b"id: 7\nid: 8\nretry: 1500\n\ndata: a\nid: 9\0x\nretry: soon\n\n")
        .expect("within the limit");
    // The last id wins, an id without data still sets it, and one with NUL is ignored.
    assert_eq!(events, [event("message", "a", "8")]);
    assert_eq!(framing.last_event_id(), "8");
    assert_eq!(framing.reconnection_time(), Some(1500));
    for ignored in [
        &b"retry: +5\n"[..],
        b"retry:  5\n",
        b"retry: 5 \n",
        b"retry:\n",
        b"retry: 99999999999999999999999\n",
    ] {
        framing.push(ignored).expect("within the limit");
        assert_eq!(framing.reconnection_time(), Some(1500), "{ignored:?}");
    }
    framing.push(b"retry:0\n").expect("within the limit");
    assert_eq!(framing.reconnection_time(), Some(0));
}

#[test]
fn lines_end_with_crlf_lf_or_cr_even_across_chunks() {
    assert_eq!(
        parse(&[
            b"data: a\r",
            b"",
            b"\ndata: b\rdata: c\r\n\r",
            b"\n",
            b"data: d\r\r"
        ]),
        [event("message", "a\nb\nc", ""), event("message", "d", "")]
    );
}

#[test]
fn fields_comments_and_encoding() {
    assert_eq!(
        parse(&[
            b"\xEF\xBB\xBF: hello\n",
            b"a line without a colon\nunknown: field\nDATA: shouted\ndata : spaced\n",
            b"data: caf\xC3\xA9 \xFF\xFE!\n\n",
        ]),
        [event("message", "caf\u{e9} \u{fffd}\u{fffd}!", "")]
    );
    // Only the stream's first BOM is dropped.
    assert_eq!(
        parse(&[b"\xEF\xBB\xBFdata: 1\n\n\xEF\xBB\xBFdata: 2\n\n"]),
        [event("message", "1", "")]
    );
    assert_eq!(
        parse(&[b"\xEF\xBB", b"\xBFdata: split BOM\n\n"]),
        [event("message", "split BOM", "")]
    );
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
    // Comments and dispatched events do not count against the next event.
    let mut framing = Framing::new(16);
    for _ in 0..100 {
        assert!(framing.push(b": keep-alive\ndata: 0123456789\n\n").is_ok());
    }
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
