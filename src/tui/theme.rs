//! Colour themes. Three are bundled (`dark`, `light`, `high-contrast`, from `themes/*.toml`);
//! a user can add or override one as `$XDG_CONFIG_HOME/mcpomni/themes/NAME.toml`. The config's
//! `UI.theme` picks one by name. `NO_COLOR` (any non-empty value) turns every colour off and
//! leaves only bold/reverse, as <https://no-color.org> asks.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUNDLED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{name}` (available: {available})")]
    Unknown { name: String, available: String },
    #[error("theme file {file}: {message}")]
    Invalid { file: String, message: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    /// The syntect theme for highlighted JSON; `None` when colour is off.
    pub syntax_theme: Option<String>,
    pub fg: Color,
    pub bg: Color,
    pub muted: Color,
    pub accent: Color,
    pub border: Color,
    pub border_focused: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub info: Color,
    pub user: Color,
    pub assistant: Color,
    /// Colour is off (NO_COLOR): use modifiers instead.
    pub monochrome: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    syntax_theme: Option<String>,
    colors: BTreeMap<String, String>,
}

const COLOR_KEYS: &[&str] = &[
    "foreground",
    "background",
    "muted",
    "accent",
    "border",
    "border_focused",
    "selection_fg",
    "selection_bg",
    "ok",
    "warn",
    "error",
    "info",
    "user",
    "assistant",
];

impl Theme {
    /// Loads theme `name`: the user's themes directory first, then the bundled ones.
    pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> Result<Self, ThemeError> {
        let theme = match user_dir.map(|dir| dir.join(format!("{name}.toml"))) {
            Some(path) if path.is_file() => {
                let text = std::fs::read_to_string(&path).map_err(|e| ThemeError::Invalid {
                    file: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Self::parse(&text, &path.display().to_string())?
            }
            _ => Self::bundled(name)?,
        };
        Ok(if no_color { theme.monochrome() } else { theme })
    }

    pub fn bundled(name: &str) -> Result<Self, ThemeError> {
        let (_, text) = BUNDLED
            .iter()
            .find(|(bundled, _)| *bundled == name)
            .ok_or_else(|| ThemeError::Unknown {
                name: name.to_owned(),
                available: BUNDLED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Self::parse(text, &format!("themes/{name}.toml"))
    }

    /// The bundled dark theme; it is part of the binary and checked by a test.
    pub fn default_dark() -> Self {
        Self::bundled("dark").unwrap_or_else(|_| Self::fallback())
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, ThemeError> {
        let invalid = |message: String| ThemeError::Invalid {
            file: file.to_owned(),
            message,
        };
        let parsed: ThemeFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if let Some(unknown) = parsed
            .colors
            .keys()
            .find(|k| !COLOR_KEYS.contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "colors.{unknown}: unknown colour key (known: {})",
                COLOR_KEYS.join(", ")
            )));
        }
        let color = |key: &str| -> Result<Color, ThemeError> {
            match parsed.colors.get(key) {
                None => Ok(Color::Reset),
                Some(value) => Color::from_str(value)
                    .map_err(|_| invalid(format!("colors.{key}: `{value}` is not a colour"))),
            }
        };
        Ok(Self {
            name: parsed.name.unwrap_or_else(|| file.to_owned()),
            syntax_theme: parsed.syntax_theme,
            fg: color("foreground")?,
            bg: color("background")?,
            muted: color("muted")?,
            accent: color("accent")?,
            border: color("border")?,
            border_focused: color("border_focused")?,
            selection_fg: color("selection_fg")?,
            selection_bg: color("selection_bg")?,
            ok: color("ok")?,
            warn: color("warn")?,
            error: color("error")?,
            info: color("info")?,
            user: color("user")?,
            assistant: color("assistant")?,
            monochrome: false,
        })
    }

    fn fallback() -> Self {
        Self {
            name: "fallback".into(),
            syntax_theme: None,
            fg: Color::Reset,
            bg: Color::Reset,
            muted: Color::Reset,
            accent: Color::Reset,
            border: Color::Reset,
            border_focused: Color::Reset,
            selection_fg: Color::Reset,
            selection_bg: Color::Reset,
            ok: Color::Reset,
            warn: Color::Reset,
            error: Color::Reset,
            info: Color::Reset,
            user: Color::Reset,
            assistant: Color::Reset,
            monochrome: true,
        }
    }

    /// The same theme with every colour removed.
    pub fn monochrome(self) -> Self {
        Self {
            name: self.name,
            ..Self::fallback()
        }
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }

    pub fn muted(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            Style::default().fg(self.muted)
        }
    }

    pub fn accent(&self) -> Style {
        Style::default()
            .fg(self.accent)
            .add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.monochrome) {
            (true, true) => Style::default().add_modifier(Modifier::BOLD),
            (true, false) => Style::default()
                .fg(self.border_focused)
                .add_modifier(Modifier::BOLD),
            (false, _) => Style::default().fg(self.border),
        }
    }

    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.selection_fg).bg(self.selection_bg)
        }
    }

    pub fn fg(&self, color: Color) -> Style {
        Style::default().fg(color)
    }
}

/// True when the environment asks for no colour.
pub fn no_color_requested(var: Option<String>) -> bool {
    var.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_theme_parses_with_every_colour_set() {
        for (name, text) in BUNDLED {
            let theme = Theme::parse(text, name).expect("bundled theme parses");
            assert_eq!(&theme.name, name);
            assert!(theme.syntax_theme.is_some(), "{name} names a syntax theme");
            for key in COLOR_KEYS {
                assert!(text.contains(&format!("{key} =")), "{name} sets {key}");
            }
        }
    }

    #[test]
    fn unknown_theme_names_the_available_ones() {
        assert_eq!(
            Theme::load("neon", None, false).map(|t| t.name),
            Err(ThemeError::Unknown {
                name: "neon".into(),
                available: "dark, light, high-contrast".into()
            })
        );
    }

    #[test]
    fn bad_colour_names_the_key() {
        let err = Theme::parse("[colors]\nok = \"blurple\"\n", "x.toml").map(|t| t.name);
        assert_eq!(
            err,
            Err(ThemeError::Invalid {
                file: "x.toml".into(),
                message: "colors.ok: `blurple` is not a colour".into()
            })
        );
    }

    #[test]
    fn user_theme_overrides_bundled() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("dark.toml"),
            "name = \"mine\"\n[colors]\naccent = \"#010203\"\n",
        )
        .expect("write");
        let theme = Theme::load("dark", Some(dir.path()), false).expect("loads");
        assert_eq!(theme.name, "mine");
        assert_eq!(theme.accent, Color::Rgb(1, 2, 3));
    }

    #[test]
    fn no_color_removes_all_colours() {
        let theme = Theme::load("dark", None, true).expect("loads");
        assert!(theme.monochrome);
        assert_eq!(theme.accent, Color::Reset);
        assert_eq!(theme.syntax_theme, None);
        assert!(theme.selection().add_modifier.contains(Modifier::REVERSED));
        assert!(no_color_requested(Some("1".into())));
        assert!(!no_color_requested(Some(String::new())));
        assert!(!no_color_requested(None));
    }
}
