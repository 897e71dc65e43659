//! Loop detection: a model that calls the same tool with the same arguments again and again is
//! stuck (each result is the same, so the next move will be too), and would burn requests
//! until `max_steps`. The turn asks [`RepeatGuard::see`] about every call before it runs, under
//! both tool-calling protocols.

use serde_json::Value;

/// How many identical calls in a row stop the turn.
pub const MAX_REPEATS: u32 = 3;

/// The calls seen so far in a turn.
#[derive(Debug, Default)]
pub struct RepeatGuard {
    last: Option<(String, String)>,
    count: u32,
}

impl RepeatGuard {
    /// Notes a call; returns the reason to stop when it is the [`MAX_REPEATS`]th identical
    /// call in a row.
    pub fn see(&mut self, tool: &str, arguments: &Value) -> Option<String> {
        let key = (tool.to_owned(), canonical(arguments));
        if self.last.as_ref() == Some(&key) {
            self.count += 1;
        } else {
            self.last = Some(key);
            self.count = 1;
        }
        (self.count >= MAX_REPEATS).then(|| {
            format!(
                "the model called {} with the same arguments {MAX_REPEATS} times in a row",
                crate::text::sanitize_line(tool)
            )
        })
    }
}

/// The JSON text with every object's keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are
/// the same call (serde_json keeps insertion order here: `preserve_order` is on).
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_third_identical_call_in_a_row_stops() {
        let mut guard = RepeatGuard::default();
        assert_eq!(
            guard.see("demo__echo", &json!({"a": 1, "b": [{"x": 1, "y": 2}]})),
            None
        );
        assert_eq!(
            guard.see("demo__echo", &json!({"b": [{"y": 2, "x": 1}], "a": 1})),
            None
        );
        assert_eq!(
            guard.see("demo__echo", &json!({"a": 1, "b": [{"x": 1, "y": 2}]})),
            Some("the model called demo__echo with the same arguments 3 times in a row".into())
        );
    }

    #[test]
    fn a_different_call_in_between_starts_over() {
        let mut guard = RepeatGuard::default();
        guard.see("demo__echo", &json!({"a": 1}));
        guard.see("demo__echo", &json!({"a": 1}));
        assert_eq!(guard.see("demo__echo", &json!({"a": 2})), None);
        assert_eq!(guard.see("demo__add", &json!({"a": 2})), None);
        assert_eq!(guard.see("demo__add", &json!({"a": 2})), None);
        assert!(guard.see("demo__add", &json!({"a": 2})).is_some());
    }
}
