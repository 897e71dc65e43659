//! `roots`: global and per server, paths and file:// URIs, defaults by transport, and errors
//! at the offending entry.

use std::path::{Path, PathBuf};

use super::{load_env, no_vars, parse_err, vars};
use crate::config::{ConfigSource, parse};

/// Parses `text` with `cwd` as the working directory.
fn parse_in(cwd: &Path, text: &str) -> crate::config::Config {
    let env = load_env(cwd, &no_vars);
    parse(text, ConfigSource::File("c.json".into()), &env).expect("parses")
}

#[test]
fn stdio_servers_default_to_the_working_directory_and_remote_ones_to_none() {
    let cwd = Path::new("/home/ada/project");
    let config = parse_in(
        cwd,
        r#"{"mcpServers": {"local": {"command": "x"}, "remote": {"url": "https://example.com/mcp"}}}"#,
    );
    assert_eq!(
        config.servers[0].roots,
        [PathBuf::from("/home/ada/project")]
    );
    assert!(config.servers[1].roots.is_empty());
}

#[test]
fn a_servers_roots_win_over_the_global_ones_which_win_over_the_default() {
    let cwd = Path::new("/w");
    let config = parse_in(
        cwd,
        r#"{"roots": ["docs", "file:///srv/data%20set", "docs"],
            "mcpServers": {
              "a": {"command": "x"},
              "b": {"command": "x", "roots": ["/only/this"]},
              "c": {"url": "http://127.0.0.1:1/mcp"},
              "d": {"command": "x", "roots": []}
            }}"#,
    );
    let global = [PathBuf::from("/w/docs"), PathBuf::from("/srv/data set")];
    assert_eq!(config.servers[0].roots, global, "duplicates collapse");
    assert_eq!(config.servers[1].roots, [PathBuf::from("/only/this")]);
    assert_eq!(
        config.servers[2].roots, global,
        "remote servers get the global roots"
    );
    assert!(
        config.servers[3].roots.is_empty(),
        "an empty list sends none"
    );
}

#[test]
fn roots_expand_variables() {
    let env_vars = vars(&[("DATA", "/mnt/data")]);
    let env = load_env(Path::new("/w"), &env_vars);
    let config = parse(
        r#"{"mcpServers": {"a": {"command": "x", "roots": ["${DATA}/in"]}}}"#,
        ConfigSource::File("c.json".into()),
        &env,
    )
    .expect("parses");
    assert_eq!(config.servers[0].roots, [PathBuf::from("/mnt/data/in")]);
}

#[test]
fn a_bad_root_is_reported_at_its_entry() {
    assert_eq!(
        parse_err(r#"{"roots": ["ok", "https://example.com/x"], "mcpServers": {}}"#),
        "bad.json:1:18: roots.1: `https://example.com/x` is not a local path; a root is a path or a file:// URI"
    );
    assert_eq!(
        parse_err(
            "{\"mcpServers\": {\"a\": {\"command\": \"x\",\n  \"roots\": [\"file://host/share\"]}}}"
        ),
        "bad.json:2:13: mcpServers.a.roots.0: `file://host/share` is not a file:// URI of a local path"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"a": {"command": "x", "roots": "/tmp"}}}"#),
        "bad.json:1:48: mcpServers.a.roots: expected an array"
    );
}
