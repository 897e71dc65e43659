//! `${VAR}` interpolation of config strings: `${NAME}`, `${NAME:-default}`
//! (the default may itself contain `${...}`), and `$$` for a literal `$`.
//!
//! A `$` followed by anything else is kept as is, so that strings such as
//! shell snippets in `args` survive without escaping.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpandError {
    Unset(String),
    Unterminated,
    InvalidName(String),
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Unset(name) => write!(f, "environment variable {name} is not set"),
            ExpandError::Unterminated => f.write_str("unterminated `${` (missing `}`)"),
            ExpandError::InvalidName(name) => write!(
                f,
                "invalid variable name `{name}` in `${{...}}` (use letters, digits and `_`)"
            ),
        }
    }
}

/// Expands every reference in `input`; `lookup` resolves a variable name.
///
/// As in POSIX shells, `${NAME:-default}` also uses the default when NAME is
/// set but empty: an empty token is never what the user meant.
pub(crate) fn expand(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_and_tail) = after.strip_prefix('{') {
            let end = closing_brace(body_and_tail).ok_or(ExpandError::Unterminated)?;
            out.push_str(&reference(&body_and_tail[..end], lookup)?);
            rest = &body_and_tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves the inside of one `${...}`.
fn reference(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    if !is_valid_name(name) {
        return Err(ExpandError::InvalidName(name.to_owned()));
    }
    match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => expand(default, lookup),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => expand(default, lookup),
        (None, None) => Err(ExpandError::Unset(name.to_owned())),
    }
}

/// Byte offset of the `}` that closes a `${`, skipping nested `${...}` and `$$`.
fn closing_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'$', Some(b'$')) => i += 2,
            (b'$', Some(b'{')) => {
                depth += 1;
                i += 2;
            }
            (b'}', _) => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
