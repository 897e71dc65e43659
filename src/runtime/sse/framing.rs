//! The SSE parser, exactly as the WHATWG HTML standard's "Server-sent events" section
//! (§9.2.6 "Interpreting an event stream") describes it, with one addition: a size cap, so an
//! endless line or event is an error instead of unbounded memory.
//!
//! The spec's rules, all implemented here (each line is parsed once):
//! - The stream is UTF-8; invalid bytes decode to U+FFFD. One leading BOM is dropped.
//! - Lines end with CRLF, LF or CR (a CRLF split across two chunks is still one line end).
//! - An empty line dispatches the event; a line starting with `:` is a comment.
//! - `name:value` (one leading space of the value dropped) or `name` alone (empty value).
//! - `event` sets the event type (the last one wins); `data` appends the value and a LF;
//!   `id` sets the last event ID unless the value contains NUL (and the ID outlives the
//!   event); `retry` sets the reconnection time if the value is only ASCII digits; any other
//!   field is ignored.
//! - Dispatch: the last event ID is taken; an empty data buffer dispatches nothing (and
//!   clears the event type); otherwise one trailing LF is removed from the data and the event
//!   goes out with the type `message` unless one was set.
//! - The end of the stream discards an unfinished event.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The event type: `message` unless the event set another.
    pub(crate) kind: String,
    pub(crate) data: String,
    /// The last event ID when the event was dispatched (it persists across events).
    pub(crate) last_event_id: String,
}

/// A line, or the event being built, went over the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Feeds on network chunks of any size and returns the events they complete.
///
/// `max_event_bytes` caps what is held at once for the event being built: its data and type
/// plus the unfinished line. Past it, [`Framing::push`] returns [`TooLarge`] and the stream
/// must be abandoned.
#[derive(Debug)]
pub(crate) struct Framing {
    max_event_bytes: usize,
    /// The unfinished last line of the chunks so far.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// No line has ended yet: a BOM at the start of the stream is still to be dropped.
    at_start: bool,
    data: String,
    kind: String,
    last_event_id: String,
    reconnection_time: Option<u64>,
}

impl Framing {
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            data: String::new(),
            kind: String::new(),
            last_event_id: String::new(),
            reconnection_time: None,
        }
    }

    /// The last event ID the stream set (empty if none): sent as `Last-Event-ID` when
    /// reconnecting.
    pub(crate) fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds the stream asked for with `retry`, if any.
    pub(crate) fn reconnection_time(&self) -> Option<u64> {
        self.reconnection_time
    }

    /// Feed one network chunk; returns the events it completed, in order.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, TooLarge> {
        let mut events = Vec::new();
        let mut rest = chunk;
        if self.after_cr {
            // An empty chunk leaves the question open.
            match rest.first() {
                Some(b'\n') => {
                    rest = &rest[1..];
                    self.after_cr = false;
                }
                Some(_) => self.after_cr = false,
                None => {}
            }
        }
        while let Some(end) = rest.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            self.extend_line(&rest[..end])?;
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.finish_line(&line)? {
                events.push(event);
            }
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
        Ok(events)
    }

    fn held(&self) -> usize {
        self.data.len() + self.kind.len() + self.line.len()
    }

    fn extend_line(&mut self, part: &[u8]) -> Result<(), TooLarge> {
        if self.held() + part.len() > self.max_event_bytes {
            return Err(TooLarge);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    /// Interprets one complete line; returns the event an empty line dispatches.
    fn finish_line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, TooLarge> {
        let mut line = line;
        if std::mem::take(&mut self.at_start) {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(0) => return Ok(None), // a comment (keep-alives)
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &line[line.len()..]),
        };
        match name {
            b"event" => self.kind = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                // The line was within the cap, but data + LF may not be.
                if self.held() + value.len() + 1 > self.max_event_bytes {
                    return Err(TooLarge);
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            b"id" if !value.contains(&0) => {
                self.last_event_id = String::from_utf8_lossy(value).into_owned();
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Digits beyond u64 are not a delay anyone means: such a field is ignored.
                if let Ok(millis) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                    self.reconnection_time = Some(millis);
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let kind = std::mem::take(&mut self.kind);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        Some(SseEvent {
            kind: if kind.is_empty() {
                "message".to_owned()
            } else {
                kind
            },
            data,
            last_event_id: self.last_event_id.clone(),
        })
    }
}
