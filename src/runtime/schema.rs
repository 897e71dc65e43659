//! Checking tool arguments against the tool's input schema before they are sent, so an edited
//! argument that cannot work is caught with the field named instead of as the server's error.
//! Schemas come from servers: one that cannot be compiled (an unknown draft, a remote `$ref`,
//! which is never fetched) is not held against the user — the server still checks.

use rmcp::model::JsonObject;
use serde_json::Value;

/// At most this many problems are listed (a wholly wrong object would list every field).
const MAX_PROBLEMS: usize = 5;

/// `Ok` when `arguments` satisfy `schema` (or the schema cannot be used); otherwise the
/// problems, each naming the field: ``field `/items/0/id`: "x" is not of type "integer"``.
pub fn check_arguments(schema: &JsonObject, arguments: &JsonObject) -> Result<(), String> {
    let schema = Value::Object(schema.clone());
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return Ok(());
    };
    let instance = Value::Object(arguments.clone());
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .take(MAX_PROBLEMS)
        .map(|error| {
            let path = error.instance_path().to_string();
            let message = crate::text::sanitize_line(&error.to_string());
            if path.is_empty() {
                message
            } else {
                format!("field `{path}`: {message}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the arguments do not fit the tool's schema: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn schema() -> JsonObject {
        object(json!({
            "type": "object",
            "properties": {
                "a": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "object",
                    "properties": {"id": {"type": "integer"}}}}
            },
            "required": ["a"]
        }))
    }

    #[test]
    fn problems_name_the_field() {
        assert_eq!(check_arguments(&schema(), &object(json!({"a": 1}))), Ok(()));
        let error = check_arguments(&schema(), &object(json!({"a": "one"})))
            .expect_err("a string is not an integer");
        assert!(error.contains("field `/a`"), "{error}");
        assert!(error.contains("integer"), "{error}");
        let nested = check_arguments(&schema(), &object(json!({"a": 1, "items": [{"id": "x"}]})))
            .expect_err("nested");
        assert!(nested.contains("field `/items/0/id`"), "{nested}");
        let missing = check_arguments(&schema(), &object(json!({}))).expect_err("a is required");
        assert!(
            missing.contains("\"a\" is a required property"),
            "{missing}"
        );
    }

    #[test]
    fn a_schema_that_cannot_be_compiled_does_not_block_the_call() {
        let broken = object(json!({"type": 12}));
        assert_eq!(check_arguments(&broken, &object(json!({"a": 1}))), Ok(()));
        let remote = object(json!({"$ref": "https://example.com/schema.json"}));
        assert_eq!(check_arguments(&remote, &object(json!({}))), Ok(()));
    }
}
