//! The form model, validation, defaults, refusals and the router's bounds.

use proptest::prelude::*;
use serde_json::json;

use super::*;

/// server-everything's `trigger-elicitation-request` schema, every kind of field MCP allows.
fn everything_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"title": "String", "type": "string", "description": "Your full, legal name"},
            "check": {"title": "Boolean", "type": "boolean"},
            "firstLine": {"type": "string", "default": "It was a dark and stormy night."},
            "email": {"type": "string", "format": "email"},
            "homepage": {"type": "string", "format": "uri"},
            "birthdate": {"type": "string", "format": "date"},
            "integer": {"type": "integer", "minimum": 1, "maximum": 100, "default": 42},
            "number": {"type": "number", "minimum": 0, "maximum": 1000, "default": 2.5},
            "untitled": {"type": "string", "enum": ["Monica", "Rachel"], "default": "Monica"},
            "multi": {
                "type": "array", "minItems": 1, "maxItems": 2,
                "items": {"type": "string", "enum": ["Guitar", "Piano", "Drums"]},
                "default": ["Guitar"]
            },
            "titled": {
                "type": "string",
                "oneOf": [{"const": "hero-1", "title": "Superman"}, {"const": "hero-2", "title": "Green Lantern"}],
                "default": "hero-1"
            },
            "titledMulti": {
                "type": "array",
                "items": {"anyOf": [{"const": "fish-1", "title": "Tuna"}, {"const": "fish-2", "title": "Salmon"}]},
                "default": ["fish-1"]
            },
            "legacy": {
                "type": "string", "enum": ["pet-1", "pet-2"], "enumNames": ["Cats", "Dogs"],
                "default": "pet-1"
            },
            "flag": {"type": "boolean", "default": true}
        },
        "required": ["name"]
    })
}

fn form() -> Form {
    Form::parse(&everything_schema()).expect("renderable")
}

fn field<'a>(form: &'a Form, name: &str) -> &'a Field {
    form.fields
        .iter()
        .find(|f| f.name == name)
        .expect("field exists")
}

#[test]
fn every_mcp_field_kind_parses_in_schema_order_with_labels() {
    let form = form();
    let names: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names[..3], ["name", "check", "firstLine"]);
    assert!(field(&form, "name").required);
    assert!(!field(&form, "check").required);
    assert_eq!(field(&form, "name").label(), "String");
    assert_eq!(field(&form, "firstLine").label(), "firstLine");
    match &field(&form, "legacy").kind {
        FieldKind::Choice { options, .. } => {
            assert_eq!(options[1].label, "Dogs");
            assert_eq!(options[1].value, "pet-2");
        }
        other => panic!("{other:?}"),
    }
    match &field(&form, "titledMulti").kind {
        FieldKind::Multi { options, .. } => assert_eq!(options[0].label, "Tuna"),
        other => panic!("{other:?}"),
    }
    match &field(&form, "email").kind {
        FieldKind::Text { format, .. } => assert_eq!(*format, Some(form::TextFormat::Email)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn accept_defaults_fills_every_default_of_every_type() {
    assert_eq!(
        accept_defaults(&everything_schema()),
        json!({
            "firstLine": "It was a dark and stormy night.",
            "integer": 42,
            "number": 2.5,
            "untitled": "Monica",
            "multi": ["Guitar"],
            "titled": "hero-1",
            "titledMulti": ["fish-1"],
            "legacy": "pet-1",
            "flag": true
        })
    );
    // Not a form mcpomni can show, but its defaults are still what accepting them sends.
    assert_eq!(
        accept_defaults(&json!({"type": "object", "properties": {
            "nested": {"type": "object", "default": {"a": 1}},
            "s": {"type": "string", "default": "x"}
        }})),
        json!({"nested": {"a": 1}, "s": "x"})
    );
}

#[test]
fn defaults_are_prefilled_and_a_filled_form_validates_to_its_content() {
    let form = form();
    let mut values = form.initial_values();
    assert_eq!(
        values[2],
        FieldValue::Text("It was a dark and stormy night.".into())
    );
    // Only `name` is missing.
    let errors = form.validate(&values).expect_err("name is required");
    assert_eq!(errors, vec![(0, "required".to_owned())]);
    values[0] = FieldValue::Text("Ada".into());
    values[1] = FieldValue::Bool(Some(false));
    let content = form.validate(&values).expect("valid");
    assert_eq!(content["name"], "Ada");
    assert_eq!(content["check"], false);
    assert_eq!(content["integer"], 42);
    assert!(
        !content.contains_key("email"),
        "empty optional fields are left out"
    );
}

#[test]
fn each_field_says_what_is_wrong_with_it() {
    let form = form();
    let mut values = form.initial_values();
    values[0] = FieldValue::Text("Ada".into());
    values[3] = FieldValue::Text("ada-at-example".into());
    values[4] = FieldValue::Text("not a uri".into());
    values[5] = FieldValue::Text("2023-02-30".into());
    values[6] = FieldValue::Text("420".into());
    values[7] = FieldValue::Text("abc".into());
    values[9] = FieldValue::Multi(vec![false, false, false]);
    let errors = form.validate(&values).expect_err("invalid");
    let by_field: Vec<(&str, &str)> = errors
        .iter()
        .map(|(i, m)| (form.fields[*i].name.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        by_field,
        [
            ("email", "expected an email address"),
            ("homepage", "expected a URI such as https://example.com"),
            ("birthdate", "expected a date as YYYY-MM-DD"),
            ("integer", "at most 100"),
            ("number", "expected a number"),
            ("multi", "choose at least 1"),
        ]
    );
    values[6] = FieldValue::Text("4.5".into());
    let errors = form.validate(&values).expect_err("invalid");
    assert!(errors.contains(&(6, "expected a whole number".to_owned())));
}

#[test]
fn string_lengths_are_counted_in_characters() {
    let form = Form::parse(&json!({"type": "object", "properties": {
        "code": {"type": "string", "minLength": 2, "maxLength": 3}
    }, "required": ["code"]}))
    .expect("renderable");
    let check = |text: &str| form.validate(&[FieldValue::Text(text.into())]);
    assert_eq!(
        check("a").expect_err("short"),
        [(0, "at least 2 characters (now 1)".to_owned())]
    );
    assert!(check("äöü").is_ok());
    assert_eq!(
        check("abcd").expect_err("long"),
        [(0, "at most 3 characters (now 4)".to_owned())]
    );
}

#[test]
fn schemas_that_cannot_be_a_form_are_refused_with_a_reason() {
    for (schema, reason) in [
        (
            json!({"type": "object", "properties": {"address": {"type": "object", "properties": {}}}}),
            "field `address` is a nested object",
        ),
        (
            json!({"type": "object", "properties": {"when": {"type": "duration"}}}),
            "field `when` has type `duration`",
        ),
        (
            json!({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}),
            "field `tags` is a list of free values",
        ),
        (
            json!({"type": "object", "properties": {"x": {"type": "string", "format": "ipv4"}}}),
            "unknown format `ipv4`",
        ),
        (json!({"type": "array"}), "of type `array`"),
        (
            json!({"type": "object", "properties": {"c": {"type": "string", "enum": []}}}),
            "offers no options",
        ),
    ] {
        let why = Form::parse(&schema).expect_err(reason).to_string();
        assert!(why.contains(reason), "{why} should say {reason}");
    }
}

#[test]
fn secret_looking_fields_are_marked() {
    let form = Form::parse(&json!({"type": "object", "properties": {
        "password": {"type": "string"},
        "api_key": {"type": "string"},
        "x": {"type": "string", "title": "Access token"},
        "pin": {"type": "string"},
        "y": {"type": "string", "format": "password"},
        "city": {"type": "string"},
        "spinner": {"type": "string"}
    }}))
    .expect("renderable");
    let secret: Vec<(&str, bool)> = form
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.secret))
        .collect();
    assert_eq!(
        secret,
        [
            ("password", true),
            ("api_key", true),
            ("x", true),
            ("pin", true),
            ("y", true),
            ("city", false),
            ("spinner", false)
        ]
    );
    // And a value never shows in Debug output.
    let value = FieldValue::Text("hunter2".into());
    assert!(!format!("{value:?}").contains("hunter2"));
    let answer = Answer::Accept(Map::from_iter([("password".into(), json!("hunter2"))]));
    assert!(!format!("{answer:?}").contains("hunter2"));
}

fn router(
    policy: Policy,
) -> (
    ElicitationRouter,
    mpsc::Receiver<RuntimeEvent>,
    Arc<Mutex<Vec<String>>>,
) {
    let (events, rx) = mpsc::channel(64);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let report = Reporter::new(move |line: &str| {
        sink.lock().expect("lock").push(line.to_owned());
    });
    let options = ElicitationOptions {
        policy,
        report: Some(report),
    };
    (ElicitationRouter::new(options, events), rx, lines)
}

fn incoming(schema: Value) -> Incoming {
    Incoming::Form {
        message: "Tell me".into(),
        schema,
    }
}

#[tokio::test]
async fn headless_policies_answer_at_once_and_say_so() {
    let server = ServerName::new("s");
    let (decline, _rx, lines) = router(Policy::Decline);
    let result = decline
        .handle(
            &server,
            incoming(everything_schema()),
            CancellationToken::new(),
        )
        .await;
    assert_eq!(result.action, ElicitationAction::Decline);
    let said = lines.lock().expect("lock").join("\n");
    assert!(said.contains("server `s` asked: \"Tell me\""), "{said}");
    assert!(said.contains("declined (the default"), "{said}");

    let (accept, _rx, lines) = router(Policy::AcceptDefaults);
    let result = accept
        .handle(
            &server,
            incoming(everything_schema()),
            CancellationToken::new(),
        )
        .await;
    assert_eq!(
        result.action,
        ElicitationAction::Decline,
        "name has no default"
    );
    assert!(lines.lock().expect("lock")[0].contains("required field has no default (`name`)"));
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "default": 7}}, "required": ["n"]});
    let result = accept
        .handle(&server, incoming(schema), CancellationToken::new())
        .await;
    assert_eq!(result.action, ElicitationAction::Accept);
    assert_eq!(result.content, Some(json!({"n": 7})));
}

#[tokio::test]
async fn unrenderable_forms_and_unsafe_urls_are_declined_with_the_reason_shown() {
    let server = ServerName::new("s");
    let (router, mut rx, lines) = router(Policy::Ask);
    let nested = json!({"type": "object", "properties": {"a": {"type": "object"}}});
    let result = router
        .handle(&server, incoming(nested), CancellationToken::new())
        .await;
    assert_eq!(result.action, ElicitationAction::Decline);
    let Some(RuntimeEvent::ElicitationNotice { text, .. }) = rx.recv().await else {
        panic!("a notice");
    };
    assert!(text.contains("nested object"), "{text}");
    let url = Incoming::Url {
        message: "open".into(),
        url: "javascript:alert(1)".into(),
    };
    let result = router.handle(&server, url, CancellationToken::new()).await;
    assert_eq!(result.action, ElicitationAction::Decline);
    assert!(
        lines.lock().expect("lock")[1].contains("server `s` asked to open a `javascript:` URL")
    );
}

#[tokio::test]
async fn the_dashboard_answers_a_parked_request_and_a_withdrawn_one_closes() {
    let server = ServerName::new("s");
    let (router, mut rx, _) = router(Policy::Ask);
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let task = tokio::spawn({
        let router = router.clone();
        let server = server.clone();
        async move {
            router
                .handle(&server, incoming(schema), CancellationToken::new())
                .await
        }
    });
    let Some(RuntimeEvent::ElicitationRequested(request)) = rx.recv().await else {
        panic!("a request");
    };
    assert!(router.answer(
        request.id,
        Answer::Accept(Map::from_iter([("n".into(), json!(1))]))
    ));
    let result = task.await.expect("join");
    assert_eq!(result.content, Some(json!({"n": 1})));
    assert!(!router.answer(request.id, Answer::Decline), "answered once");

    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let router = router.clone();
        let cancel = cancel.clone();
        async move {
            router
                .handle(&server, incoming(json!({"type": "object"})), cancel)
                .await
        }
    });
    let Some(RuntimeEvent::ElicitationRequested(request)) = rx.recv().await else {
        panic!("a request");
    };
    cancel.cancel();
    let Some(RuntimeEvent::ElicitationClosed { id, .. }) = rx.recv().await else {
        panic!("closed");
    };
    assert_eq!(id, request.id);
    assert_eq!(task.await.expect("join").action, ElicitationAction::Cancel);
    assert_eq!(router.waiting(), 0);
}

#[tokio::test]
async fn a_flood_is_bounded_and_the_rest_declined() {
    let server = ServerName::new("flood");
    let (router, mut rx, _) = router(Policy::Ask);
    let mut tasks = Vec::new();
    for _ in 0..(MAX_WAITING + 5) {
        let router = router.clone();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            router
                .handle(
                    &server,
                    incoming(json!({"type": "object"})),
                    CancellationToken::new(),
                )
                .await
        }));
    }
    let mut requested = Vec::new();
    let mut notices = 0;
    while requested.len() < MAX_WAITING || notices < 5 {
        match rx.recv().await {
            Some(RuntimeEvent::ElicitationRequested(r)) => requested.push(r.id),
            Some(RuntimeEvent::ElicitationNotice { text, .. }) => {
                assert!(text.contains("while 8 wait"), "{text}");
                notices += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(router.waiting(), MAX_WAITING);
    for id in requested {
        router.answer(id, Answer::Cancel);
    }
    let mut declined = 0;
    for task in tasks {
        if task.await.expect("join").action == ElicitationAction::Decline {
            declined += 1;
        }
    }
    assert_eq!(declined, 5);
}

proptest! {
    #[test]
    fn numbers_pass_exactly_when_within_bounds(min in -1000i64..1000, span in 0i64..1000, n in -3000i64..3000) {
        let max = min + span;
        let form = Form::parse(&json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": min, "maximum": max}
        }})).expect("renderable");
        let result = form.validate(&[FieldValue::Text(n.to_string())]);
        prop_assert_eq!(result.is_ok(), (min..=max).contains(&n));
        if let Ok(content) = result {
            prop_assert_eq!(&content["n"], &json!(n));
        }
    }

    #[test]
    fn defaults_always_validate(default in "[a-z]{0,12}", n in -50i64..50, flag: bool) {
        let schema = json!({"type": "object", "properties": {
            "s": {"type": "string", "default": default},
            "n": {"type": "integer", "default": n},
            "b": {"type": "boolean", "default": flag}
        }});
        let form = Form::parse(&schema).expect("renderable");
        let content = form.validate(&form.initial_values()).expect("defaults are valid");
        let mut expected = accept_defaults(&schema);
        if default.is_empty() {
            // An empty default is an empty field, left out.
            expected.as_object_mut().expect("object").remove("s");
        }
        prop_assert_eq!(Value::Object(content), expected);
    }
}
