//! Property tests of config loading over arbitrary input: any bytes as `servers_config.json`
//! or `.env` load or fail without a panic, every error points at a line and column inside the
//! text, the key-path locator finds every value where a reference writer put it, and `${VAR}`
//! interpolation agrees with a reference evaluation of the references it is made of.

use std::path::Path;

use proptest::prelude::*;

use super::super::interpolate::{ExpandError, expand};
use super::super::locate::{Position, Segment, locate};
use super::super::{ConfigError, ConfigSource, load};
use super::{load_env, no_vars, vars};

/// A JSON document as the reference writer emits it: numbers as their text, objects as
/// entries in order with duplicates allowed (the last one is the one that counts).
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Number(&'static str),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

const KEYS: &[&str] = &[
    "mcpServers",
    "AgentConfig",
    "LLM",
    "UI",
    "demo",
    "x",
    "command",
    "args",
    "env",
    "url",
    "transport_type",
    "type",
    "headers",
    "auth",
    "method",
    "token",
    "tool_call_timeout",
    "max_steps",
    "memory_config",
    "mode",
    "value",
    "provider",
    "model",
    "theme",
    "enabled",
    "é",
    "😀",
    "a\"b",
    "",
];

const STRINGS: &[&str] = &[
    "",
    "stdio",
    "sse",
    "streamable_http",
    "oauth",
    "bearer",
    "http://127.0.0.1:1/mcp",
    "python3",
    "${A}",
    "${E:-fallback}",
    "${UNSET}",
    "${",
    "$$",
    "${1X}",
    "line\nbreak",
    "tab\t",
    "é界😀",
    "\u{0}",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "30",
    "4294967296",
    "1e400",
    "-0.0",
    "2E-3",
];

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        prop::sample::select(NUMBERS).prop_map(Json::Number),
        prop::sample::select(STRINGS).prop_map(|s| Json::Text(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec(
                (prop::sample::select(KEYS).prop_map(str::to_owned), inner),
                0..6
            )
            .prop_map(Json::Object),
        ]
    })
}

/// A config-shaped document: an object at the top, mostly of the keys the config knows.
fn document() -> impl Strategy<Value = Json> {
    prop::collection::vec(
        (prop::sample::select(KEYS).prop_map(str::to_owned), json()),
        0..6,
    )
    .prop_map(Json::Object)
}

/// Writes JSON with varied whitespace and sometimes `\u` escapes in keys, recording where
/// each value starts (a byte offset), by key path; a duplicate key replaces what was recorded
/// under the earlier one, as serde and the locator both take the last.
struct Writer<'a> {
    out: String,
    styles: &'a [u8],
    next: usize,
    starts: Vec<(Vec<Segment>, usize)>,
}

impl Writer<'_> {
    fn style(&mut self) -> u8 {
        let style = self.styles.get(self.next).copied().unwrap_or(0);
        self.next = (self.next + 1) % self.styles.len().max(1);
        style
    }

    fn space(&mut self) {
        let space = [" ", "", "\n", "\t", "\r\n", "  \n  ", "", ""][usize::from(self.style() % 8)];
        self.out.push_str(space);
    }

    fn key(&mut self, key: &str) {
        if self.style().is_multiple_of(4) {
            self.out.push('"');
            for unit in key.encode_utf16() {
                self.out.push_str(&format!("\\u{unit:04x}"));
            }
            self.out.push('"');
        } else {
            self.out
                .push_str(&serde_json::to_string(key).expect("strings serialize"));
        }
    }

    fn value(&mut self, path: &mut Vec<Segment>, value: &Json) {
        self.space();
        self.starts
            .retain(|(recorded, _)| !recorded.starts_with(path));
        self.starts.push((path.clone(), self.out.len()));
        match value {
            Json::Null => self.out.push_str("null"),
            Json::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => self.out.push_str(n),
            Json::Text(s) => self
                .out
                .push_str(&serde_json::to_string(s).expect("strings serialize")),
            Json::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    path.push(Segment::Index(i));
                    self.value(path, item);
                    path.pop();
                    self.space();
                }
                self.out.push(']');
            }
            Json::Object(entries) => {
                self.out.push('{');
                for (i, (key, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.space();
                    self.key(key);
                    self.space();
                    self.out.push(':');
                    path.push(Segment::Key(key.clone()));
                    self.value(path, item);
                    path.pop();
                    self.space();
                }
                self.out.push('}');
            }
        }
        self.space();
    }
}

fn write(document: &Json, styles: &[u8]) -> (String, Vec<(Vec<Segment>, usize)>) {
    let mut writer = Writer {
        out: String::new(),
        styles,
        next: 0,
        starts: Vec::new(),
    };
    writer.value(&mut Vec::new(), document);
    (writer.out, writer.starts)
}

/// 1-based line and character column of a byte offset; only `\n` starts a line.
fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// Text with the characters JSON and interpolation care about, and any others.
fn jsonish_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => prop::sample::select(vec![
            '{', '}', '[', ']', '"', ':', ',', '\\', 'u', '$', '0', '1', 'e', '-', '.', 'a', 'n',
            't', ' ', '\n', '\r', '\t', 'é', '界', '\u{feff}', '=', '#', '\'',
        ]),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..80).prop_map(String::from_iter)
}

/// A written document, sometimes cut short or with a stray character inserted, so that
/// errors come from every stage (syntax, types, validation, interpolation).
fn written() -> impl Strategy<Value = String> {
    (document(), prop::collection::vec(any::<u8>(), 1..16))
        .prop_map(|(doc, styles)| write(&doc, &styles).0)
}

fn config_text() -> impl Strategy<Value = String> {
    let damaged = (
        written(),
        any::<prop::sample::Index>(),
        any::<char>(),
        any::<bool>(),
    )
        .prop_map(|(text, at, c, cut)| {
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if cut {
                text[..at].to_owned()
            } else {
                format!("{}{c}{}", &text[..at], &text[at..])
            }
        });
    prop_oneof![2 => written(), 2 => damaged, 1 => jsonish_text()]
}

/// The error's position is on a line of `text`, at most one column past its end.
fn assert_inside(text: &str, error: &ConfigError) -> Result<(), TestCaseError> {
    let Some(invalid) = error.as_invalid() else {
        return Err(TestCaseError::fail(format!(
            "not an invalid-config error: {error}"
        )));
    };
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        (1..=lines.len()).contains(&invalid.line),
        "line {} of {}: {}",
        invalid.line,
        lines.len(),
        error
    );
    let width = lines[invalid.line - 1].chars().count();
    prop_assert!(
        (1..=width + 1).contains(&invalid.column),
        "column {} on a line of {} characters: {}",
        invalid.column,
        width,
        error
    );
    Ok(())
}

/// Parses `text` as `bad.json` from `dir`, with A=va and E empty in the environment.
fn parse_in(dir: &Path, text: &str) -> Result<super::super::Config, ConfigError> {
    let lookup = vars(&[("A", "va"), ("E", "")]);
    super::super::parse(
        text,
        ConfigSource::File("bad.json".into()),
        &load_env(dir, &lookup),
    )
}

/// One piece of an interpolated string, and what it must turn into.
#[derive(Debug, Clone)]
enum Piece {
    /// Text without `$` (and, inside a default, without `}`).
    Literal(String),
    /// `$$`.
    Dollar,
    /// A `$` that starts nothing (followed by a literal, a `}` or the end).
    LoneDollar,
    Reference {
        name: &'static str,
        default: Option<Vec<Piece>>,
    },
}

const NAMES: &[&str] = &["A", "E", "UNSET", "_x1", "", "1A", "a-b", "a b", "a:b"];

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    let literal = prop::collection::vec(
        prop::sample::select(vec!['a', ' ', ':', '-', 'é', '{', '}', '\n']),
        1..4,
    )
    .prop_map(String::from_iter);
    let leaf = prop_oneof![
        literal.prop_map(Piece::Literal),
        Just(Piece::Dollar),
        Just(Piece::LoneDollar),
        prop::sample::select(NAMES).prop_map(|name| Piece::Reference {
            name,
            default: None
        }),
    ];
    let piece = leaf.prop_recursive(3, 24, 4, |inner| {
        (
            prop::sample::select(NAMES),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(name, default)| Piece::Reference {
                name,
                default: Some(default),
            })
    });
    prop::collection::vec(piece, 0..6)
}

/// The text of `pieces`; `None` when two pieces would run together into something else (a
/// lone `$` before `$` or `{`, or a `}` where it would close a default).
fn render(pieces: &[Piece], in_default: bool) -> Option<String> {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Literal(text) => {
                if in_default && text.contains('}') {
                    return None;
                }
                out.push_str(text);
            }
            Piece::Dollar => out.push_str("$$"),
            Piece::LoneDollar => {
                if let Some(Piece::Literal(next)) = pieces.get(i + 1)
                    && next.starts_with('{')
                {
                    return None;
                }
                if matches!(
                    pieces.get(i + 1),
                    Some(Piece::Dollar | Piece::LoneDollar | Piece::Reference { .. })
                ) {
                    return None;
                }
                out.push('$');
            }
            Piece::Reference { name, default } => {
                out.push_str("${");
                out.push_str(name);
                if let Some(default) = default {
                    out.push_str(":-");
                    out.push_str(&render(default, true)?);
                }
                out.push('}');
            }
        }
    }
    Some(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What `pieces` expand to, evaluated on the tree rather than by scanning text.
fn evaluate(
    pieces: &[Piece],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Dollar | Piece::LoneDollar => out.push('$'),
            Piece::Reference { name, default } => {
                // A name with `:` in it reads as the name before the first `:-`.
                if !valid_name(name) {
                    return Err(ExpandError::InvalidName((*name).to_owned()));
                }
                let value = match (lookup(name), default) {
                    (Some(value), Some(default)) if value.is_empty() => evaluate(default, lookup)?,
                    (Some(value), _) => value,
                    (None, Some(default)) => evaluate(default, lookup)?,
                    (None, None) => return Err(ExpandError::Unset((*name).to_owned())),
                };
                out.push_str(&value);
            }
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_locator_finds_every_value_where_it_was_written(
        document in document(),
        styles in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let (text, starts) = write(&document, &styles);
        for (path, offset) in &starts {
            prop_assert_eq!(
                locate(&text, path), Some(position_of(&text, *offset)),
                "{:?} in {}", path, text
            );
        }
        prop_assert_eq!(locate(&text, &[Segment::Key("absent key".into())]), None);
    }

    #[test]
    fn config_text_parses_or_fails_inside_the_text(text in config_text()) {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Err(error) = parse_in(dir.path(), &text) {
            assert_inside(text.strip_prefix('\u{feff}').unwrap_or(&text), &error)?;
            prop_assert!(error.to_string().starts_with("bad.json:"), "{}", error);
        }
    }

    #[test]
    fn any_bytes_as_the_config_file_load_or_fail_cleanly(
        bytes in prop_oneof![
            config_text().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..128),
        ],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("servers_config.json");
        std::fs::write(&file, &bytes).expect("write");
        let env = load_env(dir.path(), &no_vars);
        match (load(Some(&file), &env), std::str::from_utf8(&bytes)) {
            (Ok(_), Ok(_)) => {}
            (Err(error @ ConfigError::Invalid(_)), Ok(text)) => {
                assert_inside(text.strip_prefix('\u{feff}').unwrap_or(text), &error)?;
            }
            (Err(ConfigError::Io { file: named, .. }), Err(_)) => {
                prop_assert_eq!(named, file.display().to_string());
            }
            (outcome, text) => prop_assert!(false, "{:?} for {:?}", outcome.err(), text),
        }
    }

    #[test]
    fn any_dotenv_loads_or_fails_inside_it(dotenv in jsonish_text()) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".env"), &dotenv).expect("write");
        match parse_in(dir.path(), "{}") {
            Ok(_) | Err(ConfigError::Io { .. }) => {}
            Err(error) => {
                assert_inside(dotenv.strip_prefix('\u{feff}').unwrap_or(&dotenv), &error)?;
                prop_assert!(error.to_string().contains(".env:"), "{}", error);
            }
        }
    }

    #[test]
    fn interpolation_never_panics(input in jsonish_text(), value in jsonish_text()) {
        let lookup = |name: &str| (name != "UNSET").then(|| value.clone());
        let _ = expand(&input, &lookup);
    }

    #[test]
    fn doubled_dollars_expand_to_the_text_itself(input in jsonish_text()) {
        prop_assert_eq!(expand(&input.replace('$', "$$"), &no_vars), Ok(input));
    }

    #[test]
    fn interpolation_agrees_with_the_reference(pieces in pieces()) {
        let Some(text) = render(&pieces, false) else {
            return Ok(());
        };
        // A value is used as it is: `_x1` holds a reference that must not be expanded.
        let lookup = vars(&[("A", "va"), ("E", ""), ("_x1", "${A}")]);
        prop_assert_eq!(expand(&text, &lookup), evaluate(&pieces, &lookup), "{:?}", text);
    }
}
