//! Tests for the config module; this file owns the shared fixtures.

mod errors;
mod examples;
mod interpolation;
mod lookup;
mod model;
mod proptests;
mod roots;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, ConfigSource, LoadEnv, parse};

pub(super) const SELF_EXE: &str = "/opt/mcpomni/bin/mcpomni";

/// A fake process environment.
pub(super) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

pub(super) fn no_vars(_: &str) -> Option<String> {
    None
}

pub(super) fn load_env<'a>(cwd: &'a Path, vars: &'a dyn Fn(&str) -> Option<String>) -> LoadEnv<'a> {
    LoadEnv {
        cwd,
        config_home: None,
        vars,
        self_exe: PathBuf::from(SELF_EXE),
    }
}

/// Parses `text` as `bad.json`, from an empty working directory.
pub(super) fn parse_with(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cwd = tempfile::tempdir().expect("tempdir");
    parse(
        text,
        ConfigSource::File("bad.json".into()),
        &load_env(cwd.path(), vars),
    )
}

pub(super) fn parse_ok(text: &str) -> Config {
    match parse_with(text, &no_vars) {
        Ok(config) => config,
        Err(e) => panic!("expected {text:?} to parse, got: {e}"),
    }
}

/// The error message `text` produces as `bad.json`.
pub(super) fn parse_err(text: &str) -> String {
    parse_err_with(text, &no_vars)
}

pub(super) fn parse_err_with(text: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    match parse_with(text, vars) {
        Ok(config) => panic!("expected {text:?} to fail, got: {config:?}"),
        Err(e) => e.to_string(),
    }
}
