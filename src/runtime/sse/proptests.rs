//! Property tests of the SSE parser over arbitrary bytes cut into arbitrary chunks (empty ones
//! included): it never panics; an event over the cap is refused as soon as it passes the cap
//! (so it is never buffered whole); how the stream is chunked does not change what comes out;
//! and what comes out is what the WHATWG event-stream rules make of the raw bytes (a small
//! reference parser below, written from the standard's text).

use proptest::prelude::*;

use super::framing::{Framing, SseEvent};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event as a browser's `EventSource` would see it. `retry:` is left out: it
/// changes no event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    kind: String,
    data: String,
    last_id: String,
}

/// The stream split into complete lines (CRLF, LF or CR end a line; a leading BOM is dropped),
/// and what is left after the last line end (a line the stream has not finished).
fn split_lines(bytes: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut rest = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut lines = Vec::new();
    while let Some(end) = rest.iter().position(|b| matches!(b, b'\n' | b'\r')) {
        lines.push(&rest[..end]);
        let skip = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    (lines, rest)
}

/// A line's field name and value (one leading space stripped), or `None` for a comment.
fn field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    match line.iter().position(|b| *b == b':') {
        Some(0) => None,
        Some(colon) => {
            let value = &line[colon + 1..];
            Some((&line[..colon], value.strip_prefix(b" ").unwrap_or(value)))
        }
        None => Some((line, &[])),
    }
}

/// The reference parser: the events `bytes` dispatch under the standard's rules (the last
/// `event:`/`id:` wins, an `id` with NUL is ignored, invalid UTF-8 becomes U+FFFD).
fn reference(bytes: &[u8]) -> Vec<Event> {
    let (lines, _unfinished) = split_lines(bytes);
    let mut events = Vec::new();
    let (mut data, mut kind, mut last_id) = (String::new(), String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                events.push(Event {
                    kind: if kind.is_empty() {
                        "message".to_owned()
                    } else {
                        kind.clone()
                    },
                    data: std::mem::take(&mut data),
                    last_id: last_id.clone(),
                });
            }
            data.clear();
            kind.clear();
            continue;
        }
        let Some((name, value)) = field(line) else {
            continue;
        };
        let text = String::from_utf8_lossy(value).into_owned();
        match name {
            b"data" => {
                data.push_str(&text);
                data.push('\n');
            }
            b"event" => kind = text,
            b"id" if !text.contains('\0') => last_id = text,
            _ => {}
        }
    }
    events
}

fn seen(event: SseEvent) -> Event {
    Event {
        kind: event.kind,
        data: event.data,
        last_id: event.last_event_id,
    }
}

/// `bytes` cut at `cuts` (positions taken modulo the length, in any order; a repeated cut
/// makes an empty chunk, as a network read can).
fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

/// What the parser made of each chunk, up to and including the first refusal (`None`).
fn frame(max_event_bytes: usize, chunks: &[Vec<u8>]) -> Vec<Option<Vec<SseEvent>>> {
    let mut framing = Framing::new(max_event_bytes);
    let mut out = Vec::new();
    for chunk in chunks {
        let result = framing.push(chunk).ok();
        let refused = result.is_none();
        out.push(result);
        if refused {
            break;
        }
    }
    out
}

/// Every event, or `None` if the parser refused the stream.
fn frame_all(max_event_bytes: usize, chunks: &[Vec<u8>]) -> Option<Vec<SseEvent>> {
    frame(max_event_bytes, chunks)
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .map(|parts| parts.concat())
}

/// Bytes that look like an event stream: field lines (known and unknown names, values with
/// spaces, colons, NULs and invalid UTF-8), comments, blank lines, every kind of line end, and
/// sometimes a BOM.
fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just(&b"data"[..]),
        Just(&b"event"[..]),
        Just(&b"id"[..]),
        Just(&b"retry"[..]),
        Just(&b""[..]),
        Just(&b"foo"[..]),
        Just(&b"Data"[..]),
    ];
    let value_byte = prop_oneof![
        4 => prop::sample::select(b"ab :1\x00".to_vec()),
        1 => prop::sample::select(vec![0xC3u8, 0xA9, 0xFF, 0xEF, 0xBB, 0xBF]),
    ];
    let value = prop::collection::vec(value_byte, 0..8);
    let end = prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n"]);
    let line = (name, prop::option::of(value), end.clone()).prop_map(|(name, value, end)| {
        let mut line = name.to_vec();
        if let Some(value) = value {
            line.push(b':');
            line.extend(value);
        }
        line.extend_from_slice(end);
        line
    });
    let piece = prop_oneof![
        6 => line,
        2 => end.prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ];
    (any::<bool>(), prop::collection::vec(piece, 0..24)).prop_map(|(bom, pieces)| {
        let mut bytes = if bom { BOM.to_vec() } else { Vec::new() };
        bytes.extend(pieces.concat());
        bytes
    })
}

fn any_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => sse_like(),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(any::<usize>(), 0..12)
}

/// For each event (between blank lines; the last entry is the one the stream has not
/// finished): a lower bound of what the parser must hold for it — its data lines' raw values
/// plus one line feed each, and the unfinished line — and an upper bound — every byte of its
/// lines three times over (an invalid byte decodes to the three bytes of U+FFFD) plus a line
/// feed each.
fn event_sizes(bytes: &[u8]) -> Vec<(usize, usize)> {
    let (lines, unfinished) = split_lines(bytes);
    let mut sizes = vec![(0, 0)];
    for line in lines {
        if line.is_empty() {
            sizes.push((0, 0));
            continue;
        }
        let (low, high) = sizes.last_mut().expect("never empty");
        *high += 3 * line.len() + 1;
        if let Some((b"data", value)) = field(line) {
            *low += value.len() + 1;
        }
    }
    if let Some((low, high)) = sizes.last_mut() {
        *low += unfinished.len();
        *high += 3 * unfinished.len();
    }
    // A leading BOM is part of the first line until that line ends.
    if bytes.starts_with(BOM) {
        sizes[0].1 += BOM.len();
    }
    sizes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics(bytes in any_stream(), cuts in cuts(), cap in 0usize..64) {
        frame(cap, &chunked(&bytes, &cuts));
        frame(usize::MAX, &chunked(&bytes, &cuts));
    }

    #[test]
    fn chunking_does_not_change_the_output(
        bytes in any_stream(),
        a in cuts(),
        b in cuts(),
        cap in prop_oneof![0usize..64, Just(usize::MAX)],
    ) {
        prop_assert_eq!(frame_all(cap, &chunked(&bytes, &a)), frame_all(cap, &chunked(&bytes, &b)));
    }

    #[test]
    fn the_events_are_what_the_standard_reads_in_the_input(
        bytes in any_stream(),
        cuts in cuts(),
    ) {
        let events = frame_all(usize::MAX, &chunked(&bytes, &cuts)).expect("no cap");
        let events: Vec<Event> = events.into_iter().map(seen).collect();
        prop_assert_eq!(events, reference(&bytes));
    }

    /// An event whose data lines add up to more than the cap is refused, and a refusal only
    /// comes from an event (all of its lines, the unfinished one included) over the cap.
    #[test]
    fn events_over_the_cap_are_refused(bytes in any_stream(), cuts in cuts(), cap in 0usize..64) {
        let refused = frame_all(cap, &chunked(&bytes, &cuts)).is_none();
        let sizes = event_sizes(&bytes);
        if sizes.iter().any(|(low, _)| *low > cap) {
            prop_assert!(refused, "an event over {} bytes went through: {:?}", cap, sizes);
        }
        if refused {
            prop_assert!(sizes.iter().any(|(_, high)| *high > cap), "refused within the cap: {:?}", sizes);
        }
    }

    /// Nothing is held past the cap: as soon as the unfinished line plus the data of its event
    /// so far pass it, the chunk that did so is refused.
    #[test]
    fn refusal_comes_with_the_chunk_that_passes_the_cap(
        bytes in any_stream(),
        cuts in cuts(),
        cap in 0usize..64,
    ) {
        let chunks = chunked(&bytes, &cuts);
        let results = frame(cap, &chunks);
        let mut seen = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            seen += chunk.len();
            let (low, _) = *event_sizes(&bytes[..seen]).last().expect("never empty");
            if low > cap {
                prop_assert!(
                    results.get(i).is_none_or(Option::is_none),
                    "chunk {} passed the {}-byte cap and was accepted", i, cap
                );
                break;
            }
        }
    }

    /// A stream made only of lines each within the cap, in events within the cap, is never
    /// refused: the cap is about size, not content.
    #[test]
    fn streams_within_the_cap_pass(bytes in sse_like(), cuts in cuts()) {
        let cap = event_sizes(&bytes).iter().map(|(_, high)| *high).max().unwrap_or(0);
        prop_assert!(frame_all(cap, &chunked(&bytes, &cuts)).is_some());
    }
}

/// The two points where an earlier filter differed from the standard, pinned.
#[test]
fn the_last_field_wins_and_invalid_utf8_is_replaced() {
    let events = |bytes: &[u8]| -> Vec<Event> {
        frame_all(usize::MAX, &[bytes.to_vec()])
            .expect("no cap")
            .into_iter()
            .map(seen)
            .collect()
    };
    let repeated_event = b"event: a\nevent: b\ndata: x\n\n";
    assert_eq!(reference(repeated_event)[0].kind, "b");
    assert_eq!(events(repeated_event)[0].kind, "b");
    let not_utf8 = b"data: a\ndata: \xFF\n\n";
    assert_eq!(reference(not_utf8)[0].data, "a\n\u{FFFD}");
    assert_eq!(events(not_utf8)[0].data, "a\n\u{FFFD}");
    // An empty read between a CR and its LF keeps them one line end.
    let split = frame_all(
        usize::MAX,
        &[
            b"data: a\r".to_vec(),
            Vec::new(),
            b"\ndata: b\r\n\r\n".to_vec(),
        ],
    );
    assert_eq!(split.expect("no cap").len(), 1);
}
