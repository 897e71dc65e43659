//! Serialising a value to compact JSON with secrets scrubbed from every string (object keys
//! too), giving the same bytes as building a `serde_json::Value`, scrubbing every string in it
//! and printing it (keys keep their order), without building that tree.
//!
//! Most lines have nothing to scrub, so [`Scrubber`] first writes the value as plain
//! serde_json does and looks through the whole line once for anything scrubbing could change:
//! a secret's form as JSON escapes it, or a URL with userinfo, a query or a fragment. Escaping
//! works character by character, so a string holding a secret holds its escaped form in the
//! line, and a string's URL keeps its `://`, `@`, `?` and `#`. Only on a hit is the value
//! written again through a formatter that holds back each string until it ends, scrubs its
//! decoded text and writes it escaped again.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use crate::redact::Secrets;

/// Writes JSON with one set of secrets scrubbed.
#[derive(Clone)]
pub struct Scrubber {
    secrets: Secrets,
    /// Each form of each secret as it appears inside a JSON string.
    escaped: Vec<String>,
}

impl Scrubber {
    pub fn new(secrets: Secrets) -> Self {
        let escaped = secrets
            .forms()
            .map(|form| {
                let quoted = serde_json::to_string(form).unwrap_or_default();
                quoted
                    .strip_prefix('"')
                    .and_then(|rest| rest.strip_suffix('"'))
                    .unwrap_or(form)
                    .to_owned()
            })
            .collect();
        Self { secrets, escaped }
    }

    /// Appends `value` to `out` as one line of compact JSON (no newline), scrubbed.
    pub fn write<T: Serialize + ?Sized>(
        &self,
        out: &mut Vec<u8>,
        value: &T,
    ) -> serde_json::Result<()> {
        let start = out.len();
        serde_json::to_writer(&mut *out, value)?;
        if self.may_change(&out[start..]) {
            out.truncate(start);
            write_scrubbed(out, value, &self.secrets)?;
        }
        Ok(())
    }

    /// Whether scrubbing could change any string of this plain JSON.
    fn may_change(&self, json: &[u8]) -> bool {
        let Ok(json) = std::str::from_utf8(json) else {
            return true;
        };
        self.escaped.iter().any(|form| json.contains(form.as_str()))
            || json.match_indices("://").any(|(at, _)| {
                // A URL is only changed for its userinfo (`@`), query (`?`) or fragment (`#`),
                // all after its `://`. Up to the next `"` byte covers the whole URL: a quote
                // ends a URL and is the only character escaped to a `"` byte. (Every tool's
                // schema names its `$schema` by URL: the common case must stay cheap.)
                let rest = &json[at + 3..];
                let url = rest.find('"').map_or(rest, |end| &rest[..end]);
                url.contains(['@', '?', '#'])
            })
    }
}

/// Appends `value` to `out` as compact JSON with `secrets` scrubbed from every string and key,
/// string by string.
fn write_scrubbed<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    secrets: &Secrets,
) -> serde_json::Result<()> {
    let formatter = Scrubbing {
        secrets,
        in_string: false,
        escaped: false,
        text: Vec::new(),
    };
    value.serialize(&mut serde_json::Serializer::with_formatter(out, formatter))
}

struct Scrubbing<'a> {
    secrets: &'a Secrets,
    /// Between `begin_string` and `end_string`: the string's pieces go to `text`.
    in_string: bool,
    /// Whether the string being written had characters to escape.
    escaped: bool,
    /// The decoded text of the string being written (reused from string to string).
    text: Vec<u8>,
}

/// Number and boolean writes: inside a string (a map key that is a number) they are part of
/// the text to scrub; anywhere else they go out as usual.
macro_rules! text_or_out {
    ($($name:ident: $ty:ty),* $(,)?) => {$(
        fn $name<W: ?Sized + Write>(&mut self, writer: &mut W, value: $ty) -> io::Result<()> {
            if self.in_string {
                CompactFormatter.$name(&mut self.text, value)
            } else {
                CompactFormatter.$name(writer, value)
            }
        }
    )*};
}

impl Formatter for Scrubbing<'_> {
    text_or_out!(
        write_bool: bool,
        write_i8: i8,
        write_i16: i16,
        write_i32: i32,
        write_i64: i64,
        write_i128: i128,
        write_u8: u8,
        write_u16: u16,
        write_u32: u32,
        write_u64: u64,
        write_u128: u128,
        write_f32: f32,
        write_f64: f64,
    );

    fn begin_string<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        // Nothing is written yet: the quote goes out with the scrubbed text.
        self.in_string = true;
        self.escaped = false;
        self.text.clear();
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if self.in_string {
            self.text.extend_from_slice(fragment.as_bytes());
            Ok(())
        } else {
            CompactFormatter.write_string_fragment(writer, fragment)
        }
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        if !self.in_string {
            return CompactFormatter.write_char_escape(writer, char_escape);
        }
        // Scrubbing looks at the text as decoded, so an escaped secret cannot slip through.
        self.escaped = true;
        self.text.push(match char_escape {
            CharEscape::Quote => b'"',
            CharEscape::ReverseSolidus => b'\\',
            CharEscape::Solidus => b'/',
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0c,
            CharEscape::LineFeed => b'\n',
            CharEscape::CarriageReturn => b'\r',
            CharEscape::Tab => b'\t',
            CharEscape::AsciiControl(byte) => byte,
        });
        Ok(())
    }

    fn end_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.in_string = false;
        // Whole fragments and ASCII escapes: always UTF-8, so this borrows.
        let text = String::from_utf8_lossy(&self.text);
        match self.secrets.scrub(&text) {
            // Most strings: nothing to hide and nothing escaped, so the text is already JSON.
            Cow::Borrowed(_) if !self.escaped => {
                writer.write_all(b"\"")?;
                writer.write_all(&self.text)?;
                writer.write_all(b"\"")
            }
            // serde_json's own escaping, quotes included.
            scrubbed => {
                serde_json::to_writer(&mut *writer, scrubbed.as_ref()).map_err(io::Error::other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SECRET: &str = "tok-s3cr3t-value-42";

    /// What the writer did before: a `Value` tree, scrubbed string by string, then printed.
    fn through_a_tree(value: &Value, secrets: &Secrets) -> String {
        fn scrub(value: &mut Value, secrets: &Secrets) {
            match value {
                Value::String(text) => *text = secrets.scrub_owned(std::mem::take(text)),
                Value::Array(items) => items.iter_mut().for_each(|item| scrub(item, secrets)),
                Value::Object(map) => {
                    for (key, mut item) in std::mem::take(map) {
                        scrub(&mut item, secrets);
                        map.insert(secrets.scrub_owned(key), item);
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        let mut value = value.clone();
        scrub(&mut value, secrets);
        value.to_string()
    }

    /// Through the [`Scrubber`], checked against scrubbing string by string every time.
    fn scrubbed(value: &impl Serialize, secrets: &Secrets) -> String {
        let mut out = b"before ".to_vec();
        Scrubber::new(secrets.clone())
            .write(&mut out, value)
            .expect("serialises");
        let mut each = Vec::new();
        write_scrubbed(&mut each, value, secrets).expect("serialises");
        let out = String::from_utf8(out).expect("UTF-8");
        let line = out.strip_prefix("before ").expect("appended");
        assert_eq!(line.as_bytes(), each, "both ways give the same line");
        line.to_owned()
    }

    #[test]
    fn with_nothing_to_scrub_the_line_is_plain_json() {
        let secrets = Secrets::from_values([SECRET]);
        let value = json!({"b": "two\nlines \"quoted\"", "a": [1, 2.5, null], "c": "x:/y"});
        let got = scrubbed(&value, &secrets);
        assert_eq!(got, value.to_string());
        assert_eq!(got, through_a_tree(&value, &secrets));
    }

    #[test]
    fn the_same_bytes_as_scrubbing_a_value_tree() {
        let secrets = Secrets::from_values([SECRET]);
        let value = json!({
            "zeta": 1, "alpha": [true, null, 2.5, -3],
            "message": format!("use {SECRET} please"),
            "nested": [{"deep": SECRET, "url": "https://user:pw@example.com/x?api_key=abc&q=1"}],
            SECRET: "as a key",
            "quoted": format!("\"{SECRET}\"\n\t\u{1}é😀/\\"),
            "plain": "nothing to hide",
            "": "",
        });
        let got = scrubbed(&value, &secrets);
        assert_eq!(got, through_a_tree(&value, &secrets));
        assert!(!got.contains(SECRET), "{got}");
        assert!(got.contains("use *** please"), "{got}");
        assert!(
            got.contains("https://***@example.com/x?api_key=***&q=1"),
            "{got}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&got).expect("JSON")["quoted"],
            "\"***\"\n\t\u{1}é😀/\\"
        );
    }

    #[test]
    fn only_lines_that_scrubbing_could_change_are_written_again() {
        let scrubber = Scrubber::new(Secrets::from_values([SECRET, "pa\"ss\nword-1"]));
        let may_change = |value: Value| scrubber.may_change(value.to_string().as_bytes());
        assert!(!may_change(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "text": "two\nlines, a \"quote\" and tok-s3cr3t",
        })));
        for changed in [
            json!({"u": "see https://user:pw@example.com/x"}),
            json!({"u": "https://example.com/x?api_key=1"}),
            json!({"u": "https://example.com/x#token=1"}),
            json!({"u": "https://example.com/\u{1}x?api_key=1"}),
            json!({"k": format!("a {SECRET} b")}),
            json!({"k": "tok%2Ds3cr3t%2Dvalue%2D42"}),
            json!({"k": "pa\"ss\nword-1"}),
            json!({SECRET: 1}),
        ] {
            assert!(may_change(changed.clone()), "{changed}");
        }
    }

    #[test]
    fn a_secret_split_by_escapes_is_still_found() {
        let secret = "pa\"ss\\wo\nrd-123";
        let secrets = Secrets::from_values([secret]);
        let got = scrubbed(&json!({"k": format!("x{secret}y")}), &secrets);
        assert_eq!(got, r#"{"k":"x***y"}"#);
    }

    #[test]
    fn a_key_holding_a_secret_split_by_escapes_is_scrubbed() {
        let secret = "pa\"ss\\wo\nrd-123";
        let secrets = Secrets::from_values([secret]);
        let value = json!({format!("k{secret}"): {secret: [secret]}});
        let got = scrubbed(&value, &secrets);
        assert_eq!(got, r#"{"k***":{"***":["***"]}}"#);
        assert_eq!(got, through_a_tree(&value, &secrets));
    }

    #[test]
    fn unicode_and_control_character_secrets_are_scrubbed() {
        let unicode = "pässwörd-ünï-😀";
        let control = "ctl\u{1}secret\u{7f}x";
        let secrets = Secrets::from_values([unicode, control]);
        let value = json!({
            "u": format!("é{unicode}界"),
            unicode: "key",
            "c": format!("\u{1}{control}\u{1}"),
            format!("k{control}"): format!("{unicode}{control}"),
            "escaped": format!("\"{unicode}\"\n"),
        });
        let got = scrubbed(&value, &secrets);
        assert_eq!(got, through_a_tree(&value, &secrets));
        let back: Value = serde_json::from_str(&got).expect("JSON");
        assert_eq!(back["u"], "é***界");
        assert_eq!(back["***"], "key");
        assert_eq!(back["k***"], "******");
        assert_eq!(back["c"], "\u{1}***\u{1}");
        assert_eq!(back["escaped"], "\"***\"\n");
        assert!(
            !got.contains(unicode) && !got.contains("ctl\\u0001secret"),
            "{got}"
        );
    }

    #[test]
    fn number_keys_are_scrubbed_as_text() {
        let secrets = Secrets::from_values(["12345678"]);
        let map = std::collections::BTreeMap::from([(12345678u64, 1u8), (42, 2)]);
        assert_eq!(scrubbed(&map, &secrets), r#"{"42":2,"***":1}"#);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const PIECES: &[&str] = &[
            SECRET,
            "tok-s3cr",
            "3t-value-42",
            "pa\"ss\nwörd-1",
            "pa\"ss",
            "\"",
            "\\",
            "\n",
            "\t",
            "\u{1}",
            "\u{b}",
            "\u{7f}",
            "/",
            "://",
            "https://",
            "u:p@",
            "@",
            "?",
            "api_key=k",
            "?api_key=k",
            "&",
            "#token=t",
            "%2D",
            " ",
            "a",
            "é",
            "界",
            "😀",
            "{",
            "]",
        ];

        /// Text made of the pieces that matter to scrubbing, and any character at all.
        fn text() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                6 => prop::sample::select(PIECES).prop_map(str::to_owned),
                1 => any::<char>().prop_map(String::from),
            ];
            prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
        }

        /// Objects, arrays and strings, with keys that stay distinct once scrubbed.
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                3 => text().prop_map(Value::String),
                1 => any::<i64>().prop_map(Value::from),
                1 => Just(Value::Null),
            ];
            leaf.prop_recursive(3, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::vec((text(), inner), 0..6).prop_map(|entries| {
                        Value::Object(
                            entries
                                .into_iter()
                                .enumerate()
                                .map(|(i, (key, item))| (format!("{i}|{key}"), item))
                                .collect(),
                        )
                    }),
                ]
            })
        }

        fn strings(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::String(text) => out.push(text.clone()),
                Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
                Value::Object(map) => {
                    for (key, item) in map {
                        out.push(key.clone());
                        strings(item, out);
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// One text as a string and as a key: every way a secret or a URL may sit in it.
            #[test]
            fn any_text_is_scrubbed_as_a_value_tree_would_be(text in text()) {
                let secrets = Secrets::from_values([SECRET, "pa\"ss\nwörd-1"]);
                for value in [json!(text), json!({&text: 1}), json!([text, {"k": &text}])] {
                    prop_assert_eq!(scrubbed(&value, &secrets), through_a_tree(&value, &secrets));
                }
            }
        }

        proptest! {
            /// The quick check never lets a line through that scrubbing would change, and
            /// no string or key read back holds a secret.
            #[test]
            fn the_same_line_as_scrubbing_a_value_tree(value in value()) {
                let secrets = Secrets::from_values([SECRET, "pa\"ss\nwörd-1"]);
                let got = scrubbed(&value, &secrets);
                prop_assert_eq!(&got, &through_a_tree(&value, &secrets));
                let mut texts = Vec::new();
                strings(&serde_json::from_str(&got).expect("JSON"), &mut texts);
                for text in texts {
                    prop_assert!(!text.contains(SECRET), "{}", text);
                    prop_assert!(!text.contains("pa\"ss\nwörd-1"), "{}", text);
                }
            }
        }
    }
}
