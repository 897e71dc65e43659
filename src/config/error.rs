//! Config errors: the public [`ConfigError`] / [`InvalidConfig`] types, and the
//! translation of serde_json / serde_path_to_error errors into them (short
//! messages, dotted key paths, character-based positions).

use std::fmt;

use super::locate::{self, KeyPath, Position, Segment};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (for `--config PATH`, also when it is missing).
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    /// The file was read but its contents are wrong.
    #[error("{0}")]
    Invalid(Box<InvalidConfig>),
}

impl ConfigError {
    pub fn as_invalid(&self) -> Option<&InvalidConfig> {
        match self {
            ConfigError::Invalid(invalid) => Some(invalid),
            ConfigError::Io { .. } => None,
        }
    }
}

impl From<InvalidConfig> for ConfigError {
    fn from(invalid: InvalidConfig) -> Self {
        ConfigError::Invalid(Box::new(invalid))
    }
}

/// Displayed as `{file}:{line}:{column}: {path}: {message}`, without the
/// `{path}: ` part when the path is empty (syntax errors, top level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    pub file: String,
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Dotted key path, e.g. `mcpServers.x.args.2`; empty for syntax errors.
    pub path: String,
    pub message: String,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidConfig {}

impl InvalidConfig {
    /// An error about the value at `path`, positioned by walking `text`.
    pub(crate) fn at(file: &str, text: &str, path: &KeyPath, message: impl Into<String>) -> Self {
        let position = locate::locate_nearest(text, path.segments());
        Self::new(file, position, path, message.into())
    }

    fn new(file: &str, position: Position, path: &KeyPath, message: String) -> Self {
        InvalidConfig {
            file: file.to_owned(),
            line: position.line,
            column: position.column,
            path: path.to_string(),
            message,
        }
    }
}

/// Translates a failed typed deserialization.
pub(crate) fn from_serde(
    file: &str,
    text: &str,
    err: serde_path_to_error::Error<serde_json::Error>,
) -> InvalidConfig {
    let path = key_path(err.path());
    let inner = err.into_inner();
    // A huge number is well-formed JSON that serde_json classifies as a
    // syntax error; its key path is what the user needs.
    let out_of_range = inner.is_syntax() && short_message(&inner) == "number out of range";
    if !inner.is_data() && !out_of_range {
        return from_syntax(file, text, &inner);
    }
    // serde_json places type errors after the offending value (at its end for
    // strings); the locator gives where the value starts, which is where an
    // editor should jump. serde_json's position is the fallback.
    let position = locate::locate(text, path.segments())
        .unwrap_or_else(|| locate::from_serde(text, inner.line(), inner.column()));
    InvalidConfig::new(file, position, &path, short_message(&inner))
}

/// Translates malformed JSON: serde_json's position, no key path.
pub(crate) fn from_syntax(file: &str, text: &str, err: &serde_json::Error) -> InvalidConfig {
    let position = locate::from_serde(text, err.line(), err.column());
    InvalidConfig::new(file, position, &KeyPath::root(), short_message(err))
}

/// The key path up to the first segment serde_path_to_error could not name.
fn key_path(path: &serde_path_to_error::Path) -> KeyPath {
    use serde_path_to_error::Segment as S;
    let segments = path
        .iter()
        .map_while(|segment| match segment {
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Map { key } => Some(Segment::Key(key.clone())),
            S::Enum { variant } => Some(Segment::Key(variant.clone())),
            S::Unknown => None,
        })
        .collect::<Vec<_>>();
    KeyPath::from(segments)
}

/// serde_json's message without its " at line L column C" suffix, with
/// "invalid type: integer `5`, expected a string" shortened to "expected a
/// string": the position already shows what was found.
fn short_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some((_, expected)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.rsplit_once(", expected "))
        {
            return format!("expected {}", friendly_expectation(expected));
        }
    }
    message.to_owned()
}

/// Rewords serde's Rust-flavoured expectations in JSON terms.
fn friendly_expectation(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u64" | "usize" => "a non-negative integer",
        "u32" => "a non-negative integer (at most 4294967295)",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "an object",
        other => other,
    }
}
