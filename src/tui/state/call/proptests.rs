//! Property tests of the tool-arguments JSON: whatever is typed parses to an object or to a
//! clear error (never a panic), and any JSON object shown in the approval editor comes back
//! unchanged.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use super::super::agent::JsonEditor;
use super::{parse_arguments, skeleton};

fn text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => prop::sample::select(vec![
            '{', '}', '[', ']', '"', ':', ',', '\\', 'u', '0', '1', '-', '.', 'e', 'E', 'n', 'u',
            'l', 't', 'r', 'f', 'a', 's', ' ', '\n', '\t', '\r', 'é', '\u{feff}',
        ]),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..64).prop_map(String::from_iter)
}

fn string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            object(inner).prop_map(Value::Object),
        ]
    })
}

fn object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((string(), values), 0..6)
        .prop_map(|entries| entries.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn typed_text_is_an_object_or_a_clear_error(input in text()) {
        match parse_arguments(&input) {
            Ok(arguments) => {
                if !input.trim().is_empty() {
                    prop_assert_eq!(
                        serde_json::from_str::<Value>(&input).ok(),
                        Some(Value::Object(arguments))
                    );
                }
            }
            Err(error) => {
                let parsed = serde_json::from_str::<Value>(&input);
                if let Ok(other) = parsed {
                    prop_assert!(!other.is_object());
                    prop_assert!(error.starts_with("the arguments must be a JSON object"), "{}", error);
                } else {
                    // serde_json's words, with where: "… at line L column C", inside the text.
                    prop_assert!(error.starts_with("not valid JSON: "), "{}", error);
                    let (_, place) = error.rsplit_once(" at line ").expect("a line");
                    let (line, _) = place.split_once(" column ").expect("a column");
                    let line: usize = line.parse().expect("a line number");
                    prop_assert!((1..=input.split('\n').count()).contains(&line), "{}", error);
                }
            }
        }
    }

    #[test]
    fn any_object_survives_the_approval_editor(arguments in object(json())) {
        let editor = JsonEditor::new(&Value::Object(arguments.clone()));
        prop_assert_eq!(parse_arguments(&editor.text()), Ok(arguments));
    }

    #[test]
    fn any_schema_gives_a_skeleton_that_parses(schema in object(json())) {
        prop_assert!(parse_arguments(&skeleton(&schema)).is_ok());
    }
}

/// Found by `any_object_survives_the_approval_editor`: without serde_json's exact float
/// parsing, this number came back from the editor one rounding step away.
#[test]
fn a_float_comes_back_from_the_editor_exactly() {
    let number = Number::from_f64(5.51313957213885e266).expect("finite");
    let arguments: Map<String, Value> = [("x".to_owned(), Value::Number(number))]
        .into_iter()
        .collect();
    let editor = JsonEditor::new(&Value::Object(arguments.clone()));
    assert_eq!(parse_arguments(&editor.text()), Ok(arguments));
}
