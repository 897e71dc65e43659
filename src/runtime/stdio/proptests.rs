//! Property tests of what reads a stdio server's output, over arbitrary bytes arriving in
//! arbitrary pieces: the stderr line reader keeps at most its cap of any line and splits lines
//! exactly at `\n`; the JSON-RPC line transport on stdout delivers exactly the messages whose
//! lines fit its cap, in order, and drops longer lines, junk and an unfinished last line
//! without ending the session.

use std::sync::Arc;

use proptest::prelude::*;
use tokio::io::{AsyncWriteExt, BufReader};

use super::super::connect::line_transport;
use super::{STDERR_LINE_CHARS, STDERR_LINES, StderrRing, read_line_capped, read_stderr};
use crate::text::{sanitize_line, truncate_chars};

/// Runs `work` to completion on a fresh single-threaded runtime.
fn block_on<F: Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

/// A pipe that delivers `bytes` at most `piece` bytes at a time, then ends.
fn pipe(bytes: Vec<u8>, piece: usize) -> tokio::io::DuplexStream {
    let (mut writer, reader) = tokio::io::duplex(piece.max(1));
    tokio::spawn(async move {
        let _ = writer.write_all(&bytes).await;
    });
    reader
}

/// The complete lines of `bytes` (each with its `\n`), then the unfinished rest if any.
fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn output() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..40),
        1 => (any::<u8>(), 0usize..300).prop_map(|(b, n)| vec![b; n]),
        1 => Just(b"\n".to_vec()),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.concat())
}

/// One line of what a stdio server writes on stdout.
#[derive(Debug, Clone)]
enum Line {
    /// A `ping` request with this id, padded with `pad` spaces, ended by `\r\n` or `\n`.
    Ping { id: u32, pad: usize, crlf: bool },
    /// Anything that is not a JSON-RPC message (no `{`, no `\n`).
    Junk(Vec<u8>),
}

impl Line {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Line::Ping { id, pad, crlf } => {
                let end = if *crlf { "\r\n" } else { "\n" };
                let pad = " ".repeat(*pad);
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"{pad}}}{end}"#).into_bytes()
            }
            Line::Junk(bytes) => {
                let mut bytes = bytes.clone();
                bytes.push(b'\n');
                bytes
            }
        }
    }
}

fn stdout_lines() -> impl Strategy<Value = Vec<Line>> {
    let junk_byte = any::<u8>().prop_filter("not a line end or an object", |b| {
        !matches!(b, b'\n' | b'{')
    });
    let line = prop_oneof![
        3 => (any::<u32>(), 0usize..160, any::<bool>())
            .prop_map(|(id, pad, crlf)| Line::Ping { id, pad, crlf }),
        1 => prop::collection::vec(junk_byte.clone(), 0..40).prop_map(Line::Junk),
        1 => (junk_byte, 100usize..600).prop_map(|(b, n)| Line::Junk(vec![b; n])),
    ];
    prop::collection::vec(line, 0..10)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn capped_lines_keep_at_most_the_cap(
        bytes in output(),
        cap in 0usize..64,
        piece in 1usize..32,
    ) {
        let expected: Vec<(usize, Vec<u8>)> = lines_of(&bytes)
            .into_iter()
            .map(|line| (line.len(), line[..line.len().min(cap)].to_vec()))
            .collect();
        let got = block_on(async {
            let mut reader = BufReader::with_capacity(piece, bytes.as_slice());
            let mut got = Vec::new();
            loop {
                let mut buf = Vec::new();
                match read_line_capped(&mut reader, &mut buf, cap).await {
                    Ok(0) => return got,
                    Ok(consumed) => got.push((consumed, buf)),
                    Err(error) => panic!("reading from memory failed: {error}"),
                }
            }
        });
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn stderr_lines_reach_the_ring_sanitized_and_capped(bytes in output(), piece in 1usize..64) {
        let ring = Arc::new(StderrRing::default());
        let reader = ring.clone();
        let input = bytes.clone();
        block_on(async move { read_stderr(pipe(input, piece), reader, Default::default()).await });
        let all: Vec<String> = lines_of(&bytes)
            .into_iter()
            .map(|line| {
                let kept = &line[..line.len().min(STDERR_LINE_CHARS * 4)];
                let text = String::from_utf8_lossy(kept);
                truncate_chars(&sanitize_line(text.trim_end()), STDERR_LINE_CHARS)
            })
            .collect();
        // The ring keeps the newest lines.
        let expected = &all[all.len().saturating_sub(STDERR_LINES)..];
        let kept = ring.tail(usize::MAX);
        prop_assert!(kept.iter().all(|l| l.chars().count() <= STDERR_LINE_CHARS));
        prop_assert_eq!(kept, expected);
    }

    #[test]
    fn the_stdout_transport_delivers_exactly_the_messages_that_fit(
        lines in stdout_lines(),
        unfinished in prop::collection::vec(any::<u8>(), 0..20),
        cap in 48usize..200,
        piece in 1usize..96,
    ) {
        let mut bytes: Vec<u8> = lines.iter().flat_map(Line::bytes).collect();
        // A last line without its `\n` is never delivered, whatever it holds.
        bytes.extend(unfinished.iter().filter(|b| **b != b'\n'));
        let expected: Vec<u32> = lines
            .iter()
            .filter_map(|line| match line {
                Line::Ping { id, .. } if line.bytes().len() <= cap => Some(*id),
                Line::Ping { .. } | Line::Junk(_) => None,
            })
            .collect();
        let got = block_on(async {
            use rmcp::transport::Transport;
            let mut transport = line_transport(pipe(bytes, piece), tokio::io::sink(), cap);
            let mut got = Vec::new();
            while let Some(message) = transport.receive().await {
                let message = serde_json::to_value(&message).expect("messages serialize");
                got.push(message["id"].as_u64().expect("a ping has an id"));
            }
            got
        });
        let expected: Vec<u64> = expected.into_iter().map(u64::from).collect();
        prop_assert_eq!(got, expected);
    }
}
