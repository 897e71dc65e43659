//! Where `load` finds the configuration: explicit path, working directory,
//! user config directory, bundled default.

use std::path::{Path, PathBuf};

use super::{SELF_EXE, no_vars};
use crate::config::{ConfigError, ConfigSource, LoadEnv, TransportConfig, load, parse};

fn server_config(name: &str) -> String {
    format!(r#"{{"mcpServers": {{"{name}": {{"command": "x"}}}}}}"#)
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dirs");
    }
    std::fs::write(path, text).expect("write file");
}

struct Fixture {
    cwd: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            cwd: tempfile::tempdir().expect("tempdir"),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn env(&self) -> LoadEnv<'_> {
        LoadEnv {
            cwd: self.cwd.path(),
            config_home: Some(self.home.path().to_path_buf()),
            vars: &no_vars,
            self_exe: PathBuf::from(SELF_EXE),
        }
    }

    fn cwd_file(&self) -> PathBuf {
        self.cwd.path().join("servers_config.json")
    }

    fn home_file(&self) -> PathBuf {
        self.home.path().join("mcpomni").join("servers_config.json")
    }

    fn load_names(&self, explicit: Option<&Path>) -> (ConfigSource, Vec<String>) {
        let config = load(explicit, &self.env()).expect("loads");
        (
            config.source,
            config.servers.into_iter().map(|s| s.name).collect(),
        )
    }
}

#[test]
fn explicit_path_wins_and_keeps_its_spelling() {
    let f = Fixture::new();
    write(&f.cwd_file(), &server_config("cwd"));
    write(&f.home_file(), &server_config("home"));
    write(
        &f.cwd.path().join("custom.json"),
        &server_config("explicit"),
    );
    assert_eq!(
        f.load_names(Some(Path::new("custom.json"))),
        (
            ConfigSource::File("custom.json".into()),
            vec!["explicit".to_string()]
        )
    );
    let absolute = f.cwd.path().join("custom.json");
    assert_eq!(
        f.load_names(Some(&absolute)),
        (
            ConfigSource::File(absolute.clone()),
            vec!["explicit".to_string()]
        )
    );
}

#[test]
fn missing_explicit_path_is_an_error_naming_it() {
    let f = Fixture::new();
    write(&f.cwd_file(), &server_config("cwd"));
    let err = load(Some(Path::new("missing.json")), &f.env()).expect_err("must fail");
    match &err {
        ConfigError::Io { file, source } => {
            assert_eq!(file, "missing.json");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(err.to_string().starts_with("missing.json: "), "{err}");
}

#[test]
fn explicit_path_errors_use_the_given_name() {
    let f = Fixture::new();
    write(
        &f.cwd.path().join("bad.json"),
        r#"{"mcpServers": {"x": {"command": 5}}}"#,
    );
    let err = load(Some(Path::new("bad.json")), &f.env()).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "bad.json:1:34: mcpServers.x.command: expected a string"
    );
}

#[test]
fn working_directory_comes_before_config_home() {
    let f = Fixture::new();
    write(&f.cwd_file(), &server_config("cwd"));
    write(&f.home_file(), &server_config("home"));
    assert_eq!(
        f.load_names(None),
        (ConfigSource::File(f.cwd_file()), vec!["cwd".to_string()])
    );
}

#[test]
fn config_home_is_used_when_cwd_has_no_file() {
    let f = Fixture::new();
    write(&f.home_file(), &server_config("home"));
    assert_eq!(
        f.load_names(None),
        (ConfigSource::File(f.home_file()), vec!["home".to_string()])
    );
}

#[test]
fn bundled_config_is_the_last_resort() {
    let f = Fixture::new();
    let config = load(None, &f.env()).expect("loads");
    assert_eq!(config.source, ConfigSource::Bundled);
    assert_eq!(config.llm, None);
    assert_eq!(config.servers.len(), 1);
    let demo = config.server("demo").expect("demo server");
    let TransportConfig::Stdio(stdio) = &demo.transport else {
        panic!("expected stdio, got {:?}", demo.transport);
    };
    assert_eq!(stdio.command, SELF_EXE);
    assert_eq!(stdio.args, ["demo-server"]);

    let mut no_home = f.env();
    no_home.config_home = None;
    assert_eq!(
        load(None, &no_home).expect("loads").source,
        ConfigSource::Bundled
    );
}

#[test]
fn a_file_instead_of_the_config_dir_is_skipped() {
    let f = Fixture::new();
    write(&f.home.path().join("mcpomni"), "not a directory");
    assert_eq!(
        load(None, &f.env()).expect("loads").source,
        ConfigSource::Bundled
    );
}

#[test]
fn errors_in_bundled_text_name_it() {
    let f = Fixture::new();
    let err = parse("{", ConfigSource::Bundled, &f.env()).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "<bundled>:1:1: EOF while parsing an object"
    );
}

#[test]
fn cwd_file_errors_name_its_full_path() {
    let f = Fixture::new();
    write(&f.cwd_file(), "{\n  \"UI\": {\"mouse\": \"yes\"}\n}\n");
    let err = load(None, &f.env()).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:19: UI.mouse: expected a boolean",
            f.cwd_file().display()
        )
    );
}

#[test]
fn byte_order_mark_is_ignored() {
    let f = Fixture::new();
    write(&f.cwd_file(), &format!("\u{feff}{}", server_config("bom")));
    assert_eq!(f.load_names(None).1, ["bom"]);
}
