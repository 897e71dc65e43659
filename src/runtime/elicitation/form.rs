//! The form a server's `requestedSchema` describes: parsed once from the JSON schema into
//! fields a person can fill (text with a format and length limits, numbers with bounds,
//! yes/no, one-of and many-of choices), each with its title, description, whether it is
//! required and its default. A schema that cannot be shown as such a form (nested objects,
//! free lists, unknown types) is refused with a reason the user is shown.
//!
//! Pure data: the dashboard's form and the headless policy both build on it (`values.rs`
//! holds what is filled in), and
//! [`accept_defaults`] gives the content a client sends when it accepts with the defaults.

use serde_json::{Map, Number, Value};

/// The string formats MCP allows in an elicitation schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Email,
    Uri,
    Date,
    DateTime,
}

impl TextFormat {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "email" => Some(TextFormat::Email),
            "uri" => Some(TextFormat::Uri),
            "date" => Some(TextFormat::Date),
            "date-time" => Some(TextFormat::DateTime),
            _ => None,
        }
    }

    /// What the field expects, for its hint and its error.
    pub fn hint(self) -> &'static str {
        match self {
            TextFormat::Email => "an email address",
            TextFormat::Uri => "a URI such as https://example.com",
            TextFormat::Date => "a date as YYYY-MM-DD",
            TextFormat::DateTime => "a date and time as YYYY-MM-DDTHH:MM:SSZ",
        }
    }
}

/// One option of a choice: the value sent and the label shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text {
        format: Option<TextFormat>,
        min_length: Option<u64>,
        max_length: Option<u64>,
        default: Option<String>,
    },
    Number {
        integer: bool,
        minimum: Option<f64>,
        maximum: Option<f64>,
        default: Option<Number>,
    },
    Boolean {
        default: Option<bool>,
    },
    /// Exactly one of the options.
    Choice {
        options: Vec<Choice>,
        default: Option<String>,
    },
    /// Any number of the options (within the item limits).
    Multi {
        options: Vec<Choice>,
        min_items: Option<u64>,
        max_items: Option<u64>,
        default: Vec<String>,
    },
}

/// One property of the requested schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property name: the key in the content sent back.
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    /// The name or title looks like a password, token or key: the value is masked on
    /// screen and never logged.
    pub secret: bool,
    pub kind: FieldKind,
}

impl Field {
    /// The title, else the property name.
    pub fn label(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }

    /// The schema's default, as JSON, when it has one.
    pub fn default_value(&self) -> Option<Value> {
        match &self.kind {
            FieldKind::Text { default, .. } => default.clone().map(Value::String),
            FieldKind::Number { default, .. } => default.clone().map(Value::Number),
            FieldKind::Boolean { default } => default.map(Value::Bool),
            FieldKind::Choice { default, .. } => default.clone().map(Value::String),
            FieldKind::Multi { default, .. } if default.is_empty() => None,
            FieldKind::Multi { default, .. } => Some(Value::Array(
                default.iter().cloned().map(Value::String).collect(),
            )),
        }
    }
}

/// The whole form.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub title: Option<String>,
    pub description: Option<String>,
    /// In the order the server wrote them.
    pub fields: Vec<Field>,
}

/// Why a schema cannot be shown as a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unrenderable(pub String);

fn unrenderable(text: impl Into<String>) -> Unrenderable {
    Unrenderable(text.into())
}

impl Form {
    /// Parses a `requestedSchema`.
    pub fn parse(schema: &Value) -> Result<Form, Unrenderable> {
        let Value::Object(schema) = schema else {
            return Err(unrenderable("the requested schema is not a JSON object"));
        };
        match schema.get("type").and_then(Value::as_str) {
            Some("object") | None => {}
            Some(other) => {
                return Err(unrenderable(format!(
                    "the requested schema is of type `{other}`, not an object of fields"
                )));
            }
        }
        let empty = Map::new();
        let properties = match schema.get("properties") {
            None => &empty,
            Some(Value::Object(properties)) => properties,
            Some(_) => return Err(unrenderable("the schema's `properties` is not an object")),
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::with_capacity(properties.len());
        for (name, property) in properties {
            fields.push(parse_field(
                name,
                property,
                required.contains(&name.as_str()),
            )?);
        }
        Ok(Form {
            title: text(schema, "title"),
            description: text(schema, "description"),
            fields,
        })
    }

    /// The required fields that have no default (what accepting with the defaults lacks).
    pub fn required_without_default(&self) -> Vec<&Field> {
        self.fields
            .iter()
            .filter(|f| f.required && f.default_value().is_none())
            .collect()
    }

    /// The content of accepting with every default filled in.
    pub fn defaults(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|f| f.default_value().map(|v| (f.name.clone(), v)))
            .collect()
    }
}

/// The content a client sends when it accepts `schema` (a `requestedSchema`) with its
/// defaults: every property that has a default, of every type, set to it. A schema that is
/// not a renderable form still gives the defaults its properties declare.
pub fn accept_defaults(schema: &Value) -> Value {
    match Form::parse(schema) {
        Ok(form) => Value::Object(form.defaults()),
        Err(_) => {
            let defaults = schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|properties| {
                    properties
                        .iter()
                        .filter_map(|(name, p)| Some((name.clone(), p.get("default")?.clone())))
                        .collect()
                })
                .unwrap_or_default();
            Value::Object(defaults)
        }
    }
}

fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

fn bound(object: &Map<String, Value>, key: &str) -> Option<u64> {
    object.get(key).and_then(Value::as_u64)
}

/// Whether a field named `name` (titled `title`) holds a secret.
pub fn looks_secret(name: &str, title: Option<&str>, format: Option<&str>) -> bool {
    let secret = |text: &str| {
        let norm: String = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        crate::redact::is_secret_key(text) || norm == "pin" || norm.contains("passphrase")
    };
    secret(name) || title.is_some_and(secret) || format == Some("password")
}

fn parse_field(name: &str, property: &Value, required: bool) -> Result<Field, Unrenderable> {
    let Value::Object(p) = property else {
        return Err(unrenderable(format!(
            "field `{name}` is not described by an object"
        )));
    };
    let title = text(p, "title");
    let format_word = p.get("format").and_then(Value::as_str);
    let kind = parse_kind(name, p)?;
    Ok(Field {
        name: name.to_owned(),
        secret: looks_secret(name, title.as_deref(), format_word),
        title,
        description: text(p, "description"),
        required,
        kind,
    })
}

fn parse_kind(name: &str, p: &Map<String, Value>) -> Result<FieldKind, Unrenderable> {
    let kind = match p.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // An untyped property with options is a choice of strings.
        None if p.contains_key("enum") || p.contains_key("oneOf") => "string",
        None => {
            return Err(unrenderable(format!("field `{name}` has no `type`")));
        }
        Some(other) => {
            return Err(unrenderable(format!(
                "field `{name}` has type {other}, which mcpomni cannot show as one input"
            )));
        }
    };
    match kind {
        "string" if p.contains_key("enum") || p.contains_key("oneOf") => {
            let options = choices(name, p)?;
            let default = p.get("default").and_then(Value::as_str).map(str::to_owned);
            if let Some(value) = &default
                && !options.iter().any(|o| &o.value == value)
            {
                return Err(unrenderable(format!(
                    "field `{name}`'s default `{value}` is not one of its options"
                )));
            }
            Ok(FieldKind::Choice { options, default })
        }
        "string" => {
            let format = match p.get("format").and_then(Value::as_str) {
                None => None,
                // Not an MCP format, but what it means is plain: masked text.
                Some("password") => None,
                Some(word) => Some(TextFormat::parse(word).ok_or_else(|| {
                    unrenderable(format!("field `{name}` has an unknown format `{word}`"))
                })?),
            };
            Ok(FieldKind::Text {
                format,
                min_length: bound(p, "minLength"),
                max_length: bound(p, "maxLength"),
                default: p.get("default").and_then(Value::as_str).map(str::to_owned),
            })
        }
        "number" | "integer" => {
            let integer = kind == "integer";
            let default = match p.get("default") {
                Some(Value::Number(n)) if !integer || n.is_i64() || n.is_u64() => Some(n.clone()),
                _ => None,
            };
            Ok(FieldKind::Number {
                integer,
                minimum: p.get("minimum").and_then(Value::as_f64),
                maximum: p.get("maximum").and_then(Value::as_f64),
                default,
            })
        }
        "boolean" => Ok(FieldKind::Boolean {
            default: p.get("default").and_then(Value::as_bool),
        }),
        "array" => {
            let Some(Value::Object(items)) = p.get("items") else {
                return Err(unrenderable(format!(
                    "field `{name}` is a list without `items`"
                )));
            };
            if !(items.contains_key("enum")
                || items.contains_key("anyOf")
                || items.contains_key("oneOf"))
            {
                return Err(unrenderable(format!(
                    "field `{name}` is a list of free values; only lists of options can be shown"
                )));
            }
            let options = choices(name, items)?;
            let default: Vec<String> = p
                .get("default")
                .and_then(Value::as_array)
                .map(|values| {
                    values
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(value) = default
                .iter()
                .find(|v| !options.iter().any(|o| &o.value == *v))
            {
                return Err(unrenderable(format!(
                    "field `{name}`'s default `{value}` is not one of its options"
                )));
            }
            Ok(FieldKind::Multi {
                options,
                min_items: bound(p, "minItems"),
                max_items: bound(p, "maxItems"),
                default,
            })
        }
        "object" => Err(unrenderable(format!(
            "field `{name}` is a nested object; mcpomni shows forms of plain fields only"
        ))),
        other => Err(unrenderable(format!(
            "field `{name}` has type `{other}`, which mcpomni cannot show"
        ))),
    }
}

/// The options of an enum: `enum` (with legacy `enumNames` labels), or titled `oneOf` /
/// `anyOf` entries of `const` and `title`.
fn choices(name: &str, p: &Map<String, Value>) -> Result<Vec<Choice>, Unrenderable> {
    let options: Vec<Choice> = if let Some(values) = p.get("enum") {
        let values = values
            .as_array()
            .ok_or_else(|| unrenderable(format!("field `{name}`'s `enum` is not a list")))?;
        let names = p.get("enumNames").and_then(Value::as_array);
        values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let value = value.as_str().ok_or_else(|| {
                    unrenderable(format!("field `{name}` has an option that is not a string"))
                })?;
                let label = names
                    .and_then(|n| n.get(i))
                    .and_then(Value::as_str)
                    .unwrap_or(value);
                Ok(Choice {
                    value: value.to_owned(),
                    label: label.to_owned(),
                })
            })
            .collect::<Result<_, Unrenderable>>()?
    } else {
        let entries = p
            .get("oneOf")
            .or_else(|| p.get("anyOf"))
            .and_then(Value::as_array)
            .ok_or_else(|| unrenderable(format!("field `{name}`'s options are not a list")))?;
        entries
            .iter()
            .map(|entry| {
                let value = entry.get("const").and_then(Value::as_str).ok_or_else(|| {
                    unrenderable(format!("field `{name}` has an option without a `const`"))
                })?;
                let label = entry.get("title").and_then(Value::as_str).unwrap_or(value);
                Ok(Choice {
                    value: value.to_owned(),
                    label: label.to_owned(),
                })
            })
            .collect::<Result<_, Unrenderable>>()?
    };
    if options.is_empty() {
        return Err(unrenderable(format!("field `{name}` offers no options")));
    }
    Ok(options)
}
