//! Roots: the local directories a server is told it may work in (`roots/list`). They come

// rmcp marks roots deprecated (SEP-2577); servers on 2025-11-25 and older use them.
#![allow(deprecated)]
//! from the config (`roots`, per server over global; by default the working directory for
//! stdio servers and none for remote ones) and change at runtime (`/roots:add`,
//! `/roots:remove`), after which connected servers get `notifications/roots/list_changed`.
//!
//! Each server holds its list in a [`SharedRoots`] its connections read when the server asks.
//! A root that does not exist when asked for is not sent, and that is reported.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rmcp::model::Root;

/// One server's roots, shared by its actor, its connections and the runtime handle.
#[derive(Debug, Clone, Default)]
pub struct SharedRoots(Arc<RwLock<Vec<PathBuf>>>);

impl SharedRoots {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self(Arc::new(RwLock::new(roots)))
    }

    pub fn get(&self) -> Vec<PathBuf> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds `path` (false: already there).
    pub fn add(&self, path: &Path) -> bool {
        let mut roots = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if roots.iter().any(|r| r == path) {
            return false;
        }
        roots.push(path.to_path_buf());
        true
    }

    /// Removes `path` (false: it was not there).
    pub fn remove(&self, path: &Path) -> bool {
        let mut roots = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let before = roots.len();
        roots.retain(|r| r != path);
        roots.len() != before
    }
}

/// `file://` URI of a local directory.
pub fn file_uri(path: &Path) -> Option<String> {
    url::Url::from_directory_path(path)
        .or_else(|()| url::Url::from_file_path(path))
        .ok()
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .map(|uri| {
            if uri == "file://" {
                "file:///".to_owned()
            } else {
                uri
            }
        })
}

/// The name a root is sent with: its last path component (or the path, for `/`).
pub fn root_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// What `roots/list` answers for `paths`: the roots that exist, and a message for each that
/// does not (not sent).
pub fn answer(paths: &[PathBuf]) -> (Vec<Root>, Vec<String>) {
    let mut roots = Vec::new();
    let mut missing = Vec::new();
    for path in paths {
        match (path.exists(), file_uri(path)) {
            (true, Some(uri)) => roots.push(Root::new(uri).with_name(root_name(path))),
            (false, _) => missing.push(format!(
                "root {} does not exist: not sent to the server",
                path.display()
            )),
            (true, None) => missing.push(format!(
                "root {} cannot be written as a file:// URI: not sent to the server",
                path.display()
            )),
        }
    }
    (roots, missing)
}

/// A root as written (a path, relative to `base`, or a `file://` URI) as an absolute path.
pub fn resolve(text: &str, base: &Path) -> Result<PathBuf, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a root must not be empty".to_owned());
    }
    if let Some((scheme, _)) = text.split_once("://") {
        if !scheme.eq_ignore_ascii_case("file") {
            return Err(format!(
                "`{text}` is not a local path; a root is a path or a file:// URI"
            ));
        }
        return url::Url::parse(text)
            .ok()
            .and_then(|url| url.to_file_path().ok())
            .ok_or_else(|| format!("`{text}` is not a file:// URI of a local path"));
    }
    let path = Path::new(text);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    Ok(normalize(&joined))
}

/// `a/./b/../c` as `a/c`, without touching the file system (the root may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_file_uris_named_by_their_last_component() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("my project");
        std::fs::create_dir(&project).expect("mkdir");
        let gone = dir.path().join("gone");
        let (roots, missing) = answer(&[project.clone(), gone.clone()]);
        assert_eq!(roots.len(), 1);
        assert!(roots[0].uri.starts_with("file:///"), "{}", roots[0].uri);
        assert!(roots[0].uri.ends_with("/my%20project"), "{}", roots[0].uri);
        assert_eq!(roots[0].name.as_deref(), Some("my project"));
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("gone does not exist"), "{missing:?}");
    }

    #[test]
    fn roots_resolve_from_paths_and_file_uris_only() {
        let base = Path::new("/work/here");
        assert_eq!(resolve("src", base), Ok(PathBuf::from("/work/here/src")));
        assert_eq!(resolve("../x/./y", base), Ok(PathBuf::from("/work/x/y")));
        assert_eq!(resolve("/abs", base), Ok(PathBuf::from("/abs")));
        assert_eq!(
            resolve("file:///srv/data%20set", base),
            Ok(PathBuf::from("/srv/data set"))
        );
        assert!(
            resolve("https://example.com/x", base)
                .expect_err("remote")
                .contains("not a local path")
        );
        assert!(
            resolve("file://host/x", base)
                .expect_err("remote host")
                .contains("not a file:// URI of a local path")
        );
        assert!(resolve(" ", base).is_err());
    }

    #[test]
    fn shared_roots_add_and_remove_once() {
        let roots = SharedRoots::new(vec![PathBuf::from("/a")]);
        assert!(roots.add(Path::new("/b")));
        assert!(!roots.add(Path::new("/b")));
        assert!(roots.remove(Path::new("/a")));
        assert!(!roots.remove(Path::new("/a")));
        assert_eq!(roots.get(), [PathBuf::from("/b")]);
    }
}
