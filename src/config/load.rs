//! Finding and reading the configuration: the lookup order of `load`, the
//! `.env` reader, and `parse`, which ties deserialization, interpolation and
//! validation together.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::build::Builder;
use super::error::{self, ConfigError, InvalidConfig};
use super::locate::Position;
use super::raw::{Obj, RawConfig};
use super::{BUNDLED_CONFIG, CONFIG_FILE_NAME, Config, ConfigSource};

/// `${MCPOMNI_EXE}` always expands to the running executable, so configs can
/// start mcpomni's own subcommands (the demo server) wherever it is installed.
pub const SELF_EXE_VAR: &str = "MCPOMNI_EXE";

/// The outside world as `load` and `parse` see it; injected so tests need not
/// touch the process environment or the user's files.
pub struct LoadEnv<'a> {
    /// Where `./servers_config.json` and `./.env` are looked up.
    pub cwd: &'a Path,
    /// `$XDG_CONFIG_HOME` (or `~/.config`): `mcpomni/servers_config.json` is looked up in it.
    pub config_home: Option<PathBuf>,
    /// Process environment lookup.
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    /// The running executable; `${MCPOMNI_EXE}` expands to it.
    pub self_exe: PathBuf,
}

/// Loads the configuration from, in order: `explicit` (`--config PATH`, which
/// must exist), `cwd/servers_config.json`,
/// `config_home/mcpomni/servers_config.json`, and finally [`BUNDLED_CONFIG`].
pub fn load(explicit: Option<&Path>, env: &LoadEnv) -> Result<Config, ConfigError> {
    if let Some(path) = explicit {
        let text =
            std::fs::read_to_string(env.cwd.join(path)).map_err(|source| ConfigError::Io {
                file: path.display().to_string(),
                source,
            })?;
        return parse(&text, ConfigSource::File(path.to_path_buf()), env);
    }
    let user_file = env
        .config_home
        .as_ref()
        .map(|home| home.join("mcpomni").join(CONFIG_FILE_NAME));
    for candidate in std::iter::once(env.cwd.join(CONFIG_FILE_NAME)).chain(user_file) {
        if let Some(text) = read_if_exists(&candidate)? {
            return parse(&text, ConfigSource::File(candidate), env);
        }
    }
    parse(BUNDLED_CONFIG, ConfigSource::Bundled, env)
}

/// Parses config text; `.env` is still read from `env.cwd`. Errors name the
/// file as [`ConfigSource::display_name`] gives it.
pub fn parse(text: &str, source: ConfigSource, env: &LoadEnv) -> Result<Config, ConfigError> {
    let file = source.display_name();
    // Some Windows editors save a BOM, which serde_json rejects; it has no
    // width, so positions stay what the editor shows.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw = deserialize(&file, text)?;
    let dotenv = read_dotenv(env.cwd)?;
    let self_exe = env.self_exe.to_string_lossy().into_owned();
    let lookup = |name: &str| {
        if name == SELF_EXE_VAR {
            return Some(self_exe.clone());
        }
        (env.vars)(name).or_else(|| dotenv.get(name).cloned())
    };
    let builder = Builder {
        file: &file,
        text,
        lookup: &lookup,
        cwd: env.cwd,
    };
    let agent = builder.agent(raw.agent)?;
    let llm = builder.llm(raw.llm)?;
    let roots = builder.roots(&super::locate::KeyPath::root().key("roots"), raw.roots)?;
    let servers = builder.servers(
        raw.servers.map(|entries| entries.0).unwrap_or_default(),
        agent.health,
        roots.as_deref(),
    )?;
    let ui = builder.ui(raw.ui);
    let memory = builder.store(raw.memory)?;
    Ok(Config {
        source,
        agent,
        llm,
        servers,
        ui,
        memory,
        dotenv,
    })
}

/// The user's configuration directory (XDG on Unix, `%APPDATA%` on Windows).
pub fn default_config_home() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|strategy| strategy.config_dir())
}

fn deserialize(file: &str, text: &str) -> Result<RawConfig, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let Obj(raw) = serde_path_to_error::deserialize::<_, Obj<RawConfig>>(&mut de)
        .map_err(|e| error::from_serde(file, text, e))?;
    de.end().map_err(|e| error::from_syntax(file, text, &e))?;
    Ok(raw)
}

/// `Ok(None)` when nothing is there, so the next candidate is tried; any
/// other failure (permissions, a directory) is reported rather than skipped.
fn read_if_exists(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(ConfigError::Io {
            file: path.display().to_string(),
            source,
        }),
    }
}

/// Reads `cwd/.env` without touching the process environment. A variable
/// given twice takes its last value, as when a shell sources the file.
fn read_dotenv(cwd: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let path = cwd.join(".env");
    let file = path.display().to_string();
    let Some(text) = read_if_exists(&path)? else {
        return Ok(BTreeMap::new());
    };
    // dotenvy strips a BOM only when loading into the environment.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut values = BTreeMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((key, value)) => {
                values.insert(key, value);
            }
            Err(dotenvy::Error::LineParse(fragment, index)) => {
                let position = dotenv_position(text, &fragment, index);
                return Err(InvalidConfig {
                    file,
                    line: position.line,
                    column: position.column,
                    path: String::new(),
                    // The line itself is not echoed: `.env` lines are secrets.
                    message: "malformed line (expected `KEY=value`)".to_owned(),
                }
                .into());
            }
            Err(other) => {
                return Err(ConfigError::Io {
                    file,
                    source: io::Error::other(other),
                });
            }
        }
    }
    Ok(values)
}

/// dotenvy reports the offending text (a whole line, or just its value) and a
/// byte index into it, but no line number: find that text in the file.
fn dotenv_position(text: &str, fragment: &str, index: usize) -> Position {
    let Some(start) = text.find(fragment) else {
        return Position::START;
    };
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let mut at = (start + index).min(line_end);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    Position {
        line: text[..line_start].matches('\n').count() + 1,
        column: text[line_start..at].chars().count() + 1,
    }
}
