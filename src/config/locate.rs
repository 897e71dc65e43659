//! Key paths and the JSON position locator: maps a dotted key path back to the
//! line and column of its value in the original text, so that errors found
//! after deserialization still point into the file.
//!
//! Positions are 1-based; columns count characters (not bytes), and only `\n`
//! starts a new line, which is serde_json's convention for ASCII input.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root to a value, shown dotted (`mcpServers.x.args.2`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        self.child(Segment::Key(key.to_owned()))
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        self.child(Segment::Index(index))
    }

    fn child(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        KeyPath(segments)
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.0
    }
}

impl From<Vec<Segment>> for KeyPath {
    fn from(segments: Vec<Segment>) -> Self {
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match segment {
                Segment::Key(key) => f.write_str(key)?,
                Segment::Index(index) => write!(f, "{index}")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Position {
    pub(crate) const START: Position = Position { line: 1, column: 1 };
}

/// Where the value at `path` starts, if the path exists in `text`.
pub(crate) fn locate(text: &str, path: &[Segment]) -> Option<Position> {
    Cursor::new(text).find(path)
}

/// Where the value at `path` starts, or else the deepest ancestor that exists,
/// so that a missing key still points at the object that should hold it.
pub(crate) fn locate_nearest(text: &str, path: &[Segment]) -> Position {
    (0..=path.len())
        .rev()
        .find_map(|len| locate(text, &path[..len]))
        .unwrap_or(Position::START)
}

/// Converts serde_json's position (line, column in bytes, 0 meaning "before the
/// first byte") into a character-based, 1-based position.
pub(crate) fn from_serde(text: &str, line: usize, byte_column: usize) -> Position {
    if line == 0 {
        return Position::START;
    }
    let line_text = text.split('\n').nth(line - 1).unwrap_or("");
    let column = line_text
        .char_indices()
        .take_while(|(i, _)| *i < byte_column)
        .count();
    Position {
        line,
        column: column.max(1),
    }
}

/// A tolerant JSON scanner: it only needs to be right on valid JSON, and on
/// invalid JSON it gives up (returns `None`) rather than guessing.
#[derive(Clone)]
struct Cursor<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
    /// Characters already consumed on the current line.
    column: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            text,
            offset: 0,
            line: 1,
            column: 0,
        }
    }

    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column + 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.offset..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 0;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn find(mut self, path: &[Segment]) -> Option<Position> {
        self.skip_whitespace();
        let Some((first, rest)) = path.split_first() else {
            return Some(self.position());
        };
        match (first, self.peek()?) {
            (Segment::Key(key), '{') => self.find_member(key)?.find(rest),
            (Segment::Index(index), '[') => self.find_element(*index)?.find(rest),
            _ => None,
        }
    }

    /// Positions a cursor at the value of `key`. The last occurrence wins, as it
    /// does when serde_json fills a map.
    fn find_member(&mut self, key: &str) -> Option<Cursor<'a>> {
        self.bump();
        let mut found = None;
        loop {
            self.skip_whitespace();
            if self.peek() != Some('"') {
                break;
            }
            let Some(name) = self.string() else { break };
            self.skip_whitespace();
            if self.bump() != Some(':') {
                break;
            }
            self.skip_whitespace();
            if name == key {
                found = Some(self.clone());
            }
            if self.skip_value().is_none() {
                break;
            }
            self.skip_whitespace();
            if self.bump() != Some(',') {
                break;
            }
        }
        found
    }

    fn find_element(&mut self, index: usize) -> Option<Cursor<'a>> {
        self.bump();
        for i in 0..=index {
            self.skip_whitespace();
            if self.peek() == Some(']') {
                return None;
            }
            if i == index {
                return Some(self.clone());
            }
            self.skip_value()?;
            self.skip_whitespace();
            if self.bump()? != ',' {
                return None;
            }
        }
        None
    }

    /// Reads a string literal (the cursor is on its opening quote) and decodes
    /// it, so keys compare equal to what serde saw.
    fn string(&mut self) -> Option<String> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump()? {
                '"' => return Some(out),
                '\\' => match self.bump()? {
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => out.push(self.unicode_escape()?),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return Some(char::from_u32(high).unwrap_or('\u{FFFD}'));
        }
        let mut lookahead = self.clone();
        if lookahead.bump() == Some('\\') && lookahead.bump() == Some('u') {
            let low = lookahead.hex4()?;
            if (0xDC00..0xE000).contains(&low) {
                *self = lookahead;
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return Some(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
        }
        Some('\u{FFFD}')
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut value = 0;
        for _ in 0..4 {
            value = value * 16 + self.bump()?.to_digit(16)?;
        }
        Some(value)
    }

    /// Skips one value without recursion, so hostile nesting cannot overflow
    /// the stack.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            self.skip_whitespace();
            match self.peek()? {
                '"' => {
                    self.string()?;
                }
                '{' | '[' => {
                    self.bump();
                    depth += 1;
                    continue;
                }
                '}' | ']' => {
                    self.bump();
                    depth = depth.checked_sub(1)?;
                }
                ',' | ':' if depth > 0 => {
                    self.bump();
                    continue;
                }
                _ => {
                    let start = self.offset;
                    while self.peek().is_some_and(|c| {
                        !matches!(c, ',' | ':' | '}' | ']' | '"' | '{' | '[') && !c.is_whitespace()
                    }) {
                        self.bump();
                    }
                    if self.offset == start {
                        return None;
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }
}
