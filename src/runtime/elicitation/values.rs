//! What the user puts in a form: one [`FieldValue`] per field, prefilled with the schema's
//! defaults, and the check that turns them into the content sent back, or into a message per
//! wrong field (lengths in characters, number bounds, formats, required fields, item counts).

use serde_json::{Map, Number, Value};

use super::form::{Field, FieldKind, Form};
use super::formats;

/// What the user has put in one field so far.
#[derive(Clone, PartialEq)]
pub enum FieldValue {
    /// Text and number fields, as typed.
    Text(String),
    /// `None`: not answered.
    Bool(Option<bool>),
    /// The chosen option's index.
    Choice(Option<usize>),
    /// One flag per option.
    Multi(Vec<bool>),
}

// Values may be secrets: never print them.
impl std::fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FieldValue::Text(_) => "Text(..)",
            FieldValue::Bool(_) => "Bool(..)",
            FieldValue::Choice(_) => "Choice(..)",
            FieldValue::Multi(_) => "Multi(..)",
        })
    }
}

impl FieldValue {
    /// The field's starting value: its default, prefilled.
    pub fn initial(field: &Field) -> Self {
        match &field.kind {
            FieldKind::Text { default, .. } => {
                FieldValue::Text(default.clone().unwrap_or_default())
            }
            FieldKind::Number { default, .. } => {
                FieldValue::Text(default.as_ref().map(Number::to_string).unwrap_or_default())
            }
            FieldKind::Boolean { default } => FieldValue::Bool(*default),
            FieldKind::Choice { options, default } => FieldValue::Choice(
                default
                    .as_ref()
                    .and_then(|d| options.iter().position(|o| &o.value == d)),
            ),
            FieldKind::Multi {
                options, default, ..
            } => FieldValue::Multi(options.iter().map(|o| default.contains(&o.value)).collect()),
        }
    }
}

impl Form {
    /// Every field's starting value.
    pub fn initial_values(&self) -> Vec<FieldValue> {
        self.fields.iter().map(FieldValue::initial).collect()
    }

    /// The content to send, or a message per field that is wrong (field index, message).
    /// Empty optional fields are left out.
    pub fn validate(
        &self,
        values: &[FieldValue],
    ) -> Result<Map<String, Value>, Vec<(usize, String)>> {
        let mut content = Map::new();
        let mut errors = Vec::new();
        for (i, field) in self.fields.iter().enumerate() {
            let Some(value) = values.get(i) else {
                errors.push((i, "has no value".to_owned()));
                continue;
            };
            match check(field, value) {
                Ok(Some(json)) => {
                    content.insert(field.name.clone(), json);
                }
                Ok(None) => {}
                Err(message) => errors.push((i, message)),
            }
        }
        if errors.is_empty() {
            Ok(content)
        } else {
            Err(errors)
        }
    }
}

/// One field's JSON value (`None`: left out), or what is wrong with it.
pub fn check(field: &Field, value: &FieldValue) -> Result<Option<Value>, String> {
    let missing = || {
        if field.required {
            Err("required".to_owned())
        } else {
            Ok(None)
        }
    };
    match (&field.kind, value) {
        (
            FieldKind::Text {
                format,
                min_length,
                max_length,
                ..
            },
            FieldValue::Text(text),
        ) => {
            if text.is_empty() {
                return missing();
            }
            let length = text.chars().count() as u64;
            if let Some(min) = min_length
                && length < *min
            {
                return Err(format!("at least {} (now {length})", chars(*min)));
            }
            if let Some(max) = max_length
                && length > *max
            {
                return Err(format!("at most {} (now {length})", chars(*max)));
            }
            if let Some(format) = format
                && !formats::valid(*format, text)
            {
                return Err(format!("expected {}", format.hint()));
            }
            Ok(Some(Value::String(text.clone())))
        }
        (
            FieldKind::Number {
                integer,
                minimum,
                maximum,
                ..
            },
            FieldValue::Text(text),
        ) => {
            let text = text.trim();
            if text.is_empty() {
                return missing();
            }
            let number = if *integer {
                text.parse::<i64>()
                    .map(Number::from)
                    .map_err(|_| "expected a whole number".to_owned())?
            } else {
                text.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .and_then(Number::from_f64)
                    .ok_or_else(|| "expected a number".to_owned())?
            };
            let as_f64 = number.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = minimum
                && as_f64 < *min
            {
                return Err(format!("at least {min}"));
            }
            if let Some(max) = maximum
                && as_f64 > *max
            {
                return Err(format!("at most {max}"));
            }
            Ok(Some(Value::Number(number)))
        }
        (FieldKind::Boolean { .. }, FieldValue::Bool(answer)) => match answer {
            Some(answer) => Ok(Some(Value::Bool(*answer))),
            None => missing(),
        },
        (FieldKind::Choice { options, .. }, FieldValue::Choice(chosen)) => {
            match chosen.and_then(|i| options.get(i)) {
                Some(option) => Ok(Some(Value::String(option.value.clone()))),
                None => missing().map_err(|_| "choose one".to_owned()),
            }
        }
        (
            FieldKind::Multi {
                options,
                min_items,
                max_items,
                ..
            },
            FieldValue::Multi(flags),
        ) => {
            let chosen: Vec<Value> = options
                .iter()
                .zip(flags)
                .filter(|(_, on)| **on)
                .map(|(o, _)| Value::String(o.value.clone()))
                .collect();
            let count = chosen.len() as u64;
            if count == 0 && !field.required && min_items.is_none_or(|m| m == 0) {
                return Ok(None);
            }
            if let Some(min) = min_items
                && count < *min
            {
                return Err(format!("choose at least {min}"));
            }
            if count == 0 && field.required {
                return Err("choose at least 1".to_owned());
            }
            if let Some(max) = max_items
                && count > *max
            {
                return Err(format!("choose at most {max}"));
            }
            Ok(Some(Value::Array(chosen)))
        }
        _ => Err("has a value of the wrong kind".to_owned()),
    }
}

fn chars(n: u64) -> String {
    crate::text::plural(n as usize, "character", "characters")
}
