//! The SSE framing filter: the raw `GET` stream is split into lines and sanitized here, before
//! `sse-stream` parses events, so that one malformed line cannot cost a real message and one
//! endless event cannot take unbounded memory.

use super::snippet_bytes;

/// `sse-stream` takes any `bytes::Buf`; a cursor over the vector is one without naming the
/// `bytes` crate.
pub(super) fn bytes_of(lines: Vec<u8>) -> std::io::Cursor<Vec<u8>> {
    std::io::Cursor::new(lines)
}

/// An SSE event (or line) went over the size limit.
pub(super) struct TooLarge;

/// Splits the raw stream into lines before `sse-stream` sees it, for two reasons:
/// `sse-stream` buffers lines and events without limit, and it fails on lines the SSE spec
/// says to ignore (unknown fields, a line without a colon, a repeated `event:`), dropping the
/// rest of that network chunk, which could hold a real response. Only well-formed lines of the
/// fields it knows go through, each ended by `\n`; comments and bad lines are dropped here.
pub(super) struct Framing {
    max_event_bytes: usize,
    /// The incomplete last line of the previous chunk.
    line: Vec<u8>,
    /// Bytes of the lines forwarded for the current event (since the last blank line), not
    /// counting line ends.
    event_bytes: usize,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    first_line: bool,
    seen_event: bool,
    seen_id: bool,
    seen_retry: bool,
}

impl Framing {
    pub(super) fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            event_bytes: 0,
            after_cr: false,
            first_line: true,
            seen_event: false,
            seen_id: false,
            seen_retry: false,
        }
    }

    /// Feed one network chunk; returns the complete, sanitized lines it finished.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TooLarge> {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        let mut rest = chunk;
        if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        while let Some(end) = rest.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            self.extend_line(&rest[..end])?;
            let line = std::mem::take(&mut self.line);
            self.finish_line(&line, &mut out);
            // Reuse the allocation for the next line.
            self.line = line;
            self.line.clear();
            let delimiter = rest[end];
            rest = &rest[end + 1..];
            if delimiter == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.extend_line(rest)?;
        Ok(out)
    }

    fn extend_line(&mut self, part: &[u8]) -> Result<(), TooLarge> {
        if !part.is_empty()
            && self.event_bytes + self.line.len() + part.len() > self.max_event_bytes
        {
            return Err(TooLarge);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn finish_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let mut line = line;
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            // End of an event.
            self.event_bytes = 0;
            self.seen_event = false;
            self.seen_id = false;
            self.seen_retry = false;
            out.push(b'\n');
            return;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(0) => return, // a comment (keep-alives)
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            None => (line, &line[line.len()..]),
        };
        let seen = match name {
            b"data" => None,
            b"event" => Some(&mut self.seen_event),
            b"id" => Some(&mut self.seen_id),
            b"retry" => Some(&mut self.seen_retry),
            _ => {
                tracing::debug!(
                    "SSE line with an unknown field ignored: {}",
                    snippet_bytes(line)
                );
                return;
            }
        };
        if let Some(seen) = seen
            && std::mem::replace(seen, true)
        {
            tracing::debug!("repeated SSE field ignored: {}", snippet_bytes(line));
            return;
        }
        let Ok(text) = std::str::from_utf8(value) else {
            tracing::warn!(
                "SSE line that is not UTF-8 ignored: {}",
                snippet_bytes(line)
            );
            return;
        };
        if name == b"retry" && text.trim_ascii().parse::<u64>().is_err() {
            tracing::debug!("SSE retry line without a number ignored");
            return;
        }
        out.extend_from_slice(name);
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b'\n');
        self.event_bytes += line.len();
    }
}
