//! Error messages and positions: syntax errors, type errors at nested paths,
//! and the semantic checks made after deserialization.

use super::{parse_err, parse_ok};
use crate::config::InvalidConfig;

#[test]
fn wrong_type_is_reported_at_the_value_with_its_key_path() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"command": 5}}}"#),
        "bad.json:1:34: mcpServers.x.command: expected a string"
    );
}

#[test]
fn invalid_config_fields_are_exposed() {
    let err = super::parse_with(r#"{"mcpServers": {"x": {"command": 5}}}"#, &super::no_vars)
        .expect_err("must fail");
    assert_eq!(
        err.as_invalid(),
        Some(&InvalidConfig {
            file: "bad.json".into(),
            line: 1,
            column: 34,
            path: "mcpServers.x.command".into(),
            message: "expected a string".into(),
        })
    );
}

#[test]
fn array_element_of_wrong_type_names_its_index() {
    let text = r#"{
  "mcpServers": {
    "x": {
      "command": "npx",
      "args": ["a", 2]
    }
  }
}"#;
    assert_eq!(
        parse_err(text),
        "bad.json:5:21: mcpServers.x.args.1: expected a string"
    );
}

#[test]
fn string_where_a_number_is_expected_points_at_the_string_start() {
    let text = "{\n  \"mcpServers\": {\"x\": {\"command\": \"a\", \"timeout\": \"10\"}}\n}";
    assert_eq!(
        parse_err(text),
        "bad.json:2:51: mcpServers.x.timeout: expected a number"
    );
}

#[test]
fn integer_fields_say_what_they_accept() {
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"max_steps": -1}}"#),
        "bad.json:1:31: AgentConfig.max_steps: expected a non-negative integer (at most 4294967295)"
    );
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"request_limit": 1.5}}"#),
        "bad.json:1:35: AgentConfig.request_limit: expected a non-negative integer"
    );
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"tool_call_timeout": 1e400}}"#),
        "bad.json:1:39: AgentConfig.tool_call_timeout: number out of range"
    );
}

#[test]
fn containers_of_the_wrong_kind() {
    assert_eq!(parse_err("[]"), "bad.json:1:1: expected an object");
    assert_eq!(parse_err("  42"), "bad.json:1:3: expected an object");
    assert_eq!(
        parse_err(r#"{"mcpServers": []}"#),
        "bad.json:1:16: mcpServers: expected an object"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": ["npx"]}}"#),
        "bad.json:1:22: mcpServers.x: expected an object"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"command": "a", "args": "b"}}}"#),
        "bad.json:1:47: mcpServers.x.args: expected an array"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"command": "a", "env": {"A": 1}}}}"#),
        "bad.json:1:52: mcpServers.x.env.A: expected a string"
    );
}

#[test]
fn malformed_json_gives_serde_positions_without_a_path() {
    assert_eq!(parse_err(r#"{"UI": {},}"#), "bad.json:1:11: trailing comma");
    assert_eq!(
        parse_err(r#"{"UI": {} "LLM": null}"#),
        "bad.json:1:11: expected `,` or `}`"
    );
    assert_eq!(
        parse_err("{\n  \"mcpServers\": {"),
        "bad.json:2:17: EOF while parsing an object"
    );
    // After a final newline, serde_json's column 0 becomes column 1.
    assert_eq!(
        parse_err("{\n  \"mcpServers\": {\n"),
        "bad.json:3:1: EOF while parsing an object"
    );
    assert_eq!(
        parse_err(r#"{"UI": {}} x"#),
        "bad.json:1:12: trailing characters"
    );
}

#[test]
fn empty_file() {
    assert_eq!(parse_err(""), "bad.json:1:1: EOF while parsing a value");
    assert_eq!(parse_err("\n\n"), "bad.json:3:1: EOF while parsing a value");
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"é": {"command": 5}}}"#),
        "bad.json:1:34: mcpServers.é.command: expected a string"
    );
    assert_eq!(parse_err(r#"{"é": 1,}"#), "bad.json:1:9: trailing comma");
}

#[test]
fn escaped_keys_are_located() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"\u0078": {"command": 5}}}"#),
        "bad.json:1:39: mcpServers.x.command: expected a string"
    );
}

#[test]
fn unknown_transport_names_value_and_accepted_ones() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"transport_type": "websocket", "url": "ws://h"}}}"#),
        "bad.json:1:41: mcpServers.x.transport_type: unknown transport `websocket`; \
         expected `stdio`, `sse`, `streamable_http`, `streamable-http` or `http`"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"type": "ws", "url": "ws://h"}}}"#),
        "bad.json:1:31: mcpServers.x.type: unknown transport `ws`; \
         expected `stdio`, `sse`, `streamable_http`, `streamable-http` or `http`"
    );
}

#[test]
fn missing_command_or_url() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"transport_type": "stdio", "args": []}}}"#),
        "bad.json:1:22: mcpServers.x: stdio transport requires `command`"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"args": ["a"]}}}"#),
        "bad.json:1:22: mcpServers.x: expected `command` (stdio) or `url` (http/sse)"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"transport_type": "sse"}}}"#),
        "bad.json:1:22: mcpServers.x: sse transport requires `url`"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"type": "http", "command": "a"}}}"#),
        "bad.json:1:22: mcpServers.x: streamable_http transport requires `url`"
    );
}

#[test]
fn empty_command_is_rejected() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"command": " "}}}"#),
        "bad.json:1:34: mcpServers.x.command: `command` must not be empty"
    );
}

#[test]
fn url_needs_an_http_scheme() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"url": "localhost:3000/mcp"}}}"#),
        "bad.json:1:30: mcpServers.x.url: expected a URL starting with `http://` or `https://`"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"url": "https://"}}}"#),
        "bad.json:1:30: mcpServers.x.url: expected a URL starting with `http://` or `https://`"
    );
    let config = parse_ok(r#"{"mcpServers": {"x": {"url": "HTTPS://h/mcp"}}}"#);
    assert_eq!(config.servers[0].transport.kind_label(), "http?");
}

#[test]
fn negative_durations_are_rejected() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"command": "a", "timeout": -1}}}"#),
        "bad.json:1:50: mcpServers.x.timeout: expected a non-negative number of seconds"
    );
    assert_eq!(
        parse_err("{\"AgentConfig\": {\n  \"tool_call_timeout\": -0.5\n}}"),
        "bad.json:2:24: AgentConfig.tool_call_timeout: expected a non-negative number of seconds"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"x": {"url": "http://h", "sse_read_timeout": 1e300}}}"#),
        "bad.json:1:62: mcpServers.x.sse_read_timeout: number of seconds is too large"
    );
}

#[test]
fn unknown_memory_mode() {
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"memory_config": {"mode": "forever"}}}"#),
        "bad.json:1:44: AgentConfig.memory_config.mode: unknown memory mode `forever`; \
         expected `sliding_window` or `token_budget`"
    );
}

#[test]
fn agent_mode_and_parallel_agents_are_checked() {
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"mode": "react"}}"#),
        "bad.json:1:26: AgentConfig.mode: unknown mode `react`; expected `chat`, `auto` or \
         `orchestrator`"
    );
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"max_parallel_agents": 0}}"#),
        "bad.json:1:41: AgentConfig.max_parallel_agents: `max_parallel_agents` must be at least 1"
    );
    let config = parse_ok(r#"{"AgentConfig": {"mode": "orchestrator", "max_parallel_agents": 2}}"#);
    assert_eq!(config.agent.mode, crate::protocol::AgentMode::Orchestrator);
    assert_eq!(config.agent.max_parallel_agents, 2);
    assert_eq!(parse_ok("{}").agent.max_parallel_agents, 4);
}

#[test]
fn unknown_tool_calling_names_the_key_and_the_allowed_values() {
    assert_eq!(
        parse_err(r#"{"LLM": {"provider": "openai", "model": "m", "tool_calling": "json"}}"#),
        "bad.json:1:62: LLM.tool_calling: unknown tool calling `json`; \
         expected `native`, `text` or `auto`"
    );
}

#[test]
fn tool_calling_defaults_to_auto_and_reads_every_value() {
    use crate::config::ToolCalling;
    let read = |extra: &str| {
        let text = format!(r#"{{"LLM": {{"provider": "openai", "model": "m"{extra}}}}}"#);
        parse_ok(&text).llm.expect("an LLM block").tool_calling
    };
    assert_eq!(read(""), ToolCalling::Auto);
    assert_eq!(read(r#", "tool_calling": "native""#), ToolCalling::Native);
    assert_eq!(read(r#", "tool_calling": "Text""#), ToolCalling::Text);
    assert_eq!(read(r#", "tool_calling": "auto""#), ToolCalling::Auto);
}

#[test]
fn llm_requires_provider_and_model() {
    assert_eq!(
        parse_err(r#"{"LLM": {"model": "m"}}"#),
        "bad.json:1:9: LLM: missing field `provider`"
    );
    assert_eq!(
        parse_err(r#"{"LLM": {"provider": "", "model": "m"}}"#),
        "bad.json:1:22: LLM.provider: `provider` must not be empty"
    );
}

#[test]
fn auth_errors() {
    let server =
        |auth: &str| format!(r#"{{"mcpServers": {{"x": {{"url": "http://h", "auth": {auth}}}}}}}"#);
    assert_eq!(
        parse_err(&server(r#"{"method": "basic"}"#)),
        "bad.json:1:61: mcpServers.x.auth.method: unknown auth method `basic`; expected `oauth` or `bearer`"
    );
    assert_eq!(
        parse_err(&server(r#"{"method": "bearer"}"#)),
        "bad.json:1:50: mcpServers.x.auth: bearer auth requires `token`"
    );
    assert_eq!(
        parse_err(&server("{}")),
        "bad.json:1:50: mcpServers.x.auth: `auth` requires `method` (`oauth` or `bearer`)"
    );
}

#[test]
fn oauth_errors_name_the_key() {
    let server =
        |auth: &str| format!(r#"{{"mcpServers": {{"x": {{"url": "http://h", "auth": {auth}}}}}}}"#);
    let error = parse_err(&server(r#"{"method": "oauth", "grant": "password"}"#));
    assert!(
        error.contains("mcpServers.x.auth.grant: unknown grant `password`"),
        "{error}"
    );
    let error = parse_err(&server(
        r#"{"method": "oauth", "grant": "client_credentials"}"#,
    ));
    assert!(
        error.ends_with("mcpServers.x.auth: the client_credentials grant requires `client_id`"),
        "{error}"
    );
    let error = parse_err(&server(
        r#"{"method": "oauth", "grant": "client_credentials", "client_id": "c"}"#,
    ));
    assert!(
        error.ends_with("requires `client_secret` or `private_key`"),
        "{error}"
    );
    let error = parse_err(&server(
        r#"{"method": "oauth", "client_id": "c", "signing_algorithm": "HS256"}"#,
    ));
    assert!(
        error
            .contains("mcpServers.x.auth.signing_algorithm: unsupported signing algorithm `HS256`"),
        "{error}"
    );
    let error = parse_err(&server(
        r#"{"method": "oauth", "client_metadata_url": "http://example.org/c.json"}"#,
    ));
    assert!(error.contains("must start with `https://`"), "{error}");
    let error = parse_err(&server(
        r#"{"method": "oauth", "grant": "cross_app", "client_id": "c", "idp_issuer": "https://idp"}"#,
    ));
    assert!(
        error.ends_with("the cross_app grant requires `idp_token_endpoint`"),
        "{error}"
    );
}

#[test]
fn duplicate_server_points_at_the_second_entry() {
    assert_eq!(
        parse_err(
            "{\"mcpServers\": {\n\"x\": {\"command\": \"a\"},\n\"x\": {\"command\": \"b\"}}}"
        ),
        "bad.json:3:6: mcpServers.x: duplicate server name `x`"
    );
}

#[test]
fn unknown_keys_are_ignored() {
    let config = parse_ok(
        r#"{"Extra": [1, {"a": null}], "mcpServers": {"x": {"command": "a", "description": "d", "alwaysAllow": ["t"]}}}"#,
    );
    assert_eq!(config.servers.len(), 1);
}

#[test]
fn approval_patterns_must_be_qualified_tool_names() {
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"always_ask": ["demo__echo", "echo"]}}"#),
        "bad.json:1:47: AgentConfig.always_ask.1: `echo` is not a qualified tool name; write \
         `server__tool` or `server__*`"
    );
    assert_eq!(
        parse_err(r#"{"AgentConfig": {"auto_approve": ["__x"]}}"#),
        "bad.json:1:35: AgentConfig.auto_approve.0: `__x` is not a qualified tool name; write \
         `server__tool` or `server__*`"
    );
}

#[test]
fn prices_must_not_be_negative() {
    let err = parse_err(
        r#"{"LLM": {"provider": "openai", "model": "m", "price": {"input": -1, "output": 2}}}"#,
    );
    assert!(
        err.contains("LLM.price: prices must not be negative"),
        "{err}"
    );
}
