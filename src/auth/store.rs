//! Where OAuth tokens are kept: one file per server under `$XDG_DATA_HOME/mcpomni/tokens/`
//! (0600 in a 0700 directory, written whole and renamed into place), or memory only (the
//! conformance command, whose scenarios run side by side). A file is keyed by the server's
//! name and URL, so tokens never go to another server; the issuer that minted them is stored
//! with them, and rmcp drops them when the server's authorization server changes. Refreshes
//! take an exclusive lock on `<file>.lock`, so several mcpomni processes sharing a server
//! refresh one at a time and each sees the token the other saved. rmcp takes that lock only
//! around the refresh itself and then refreshes whatever it finds, so a process that waited
//! would refresh the token just refreshed by the other: [`ServerTokens::refresh_lock`] lets
//! the caller hold the lock from before rmcp looks at the token (rmcp then finds a fresh
//! one and keeps it) until after it saved a new one.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::transport::auth::{
    AuthError, CredentialRefreshGuard, CredentialStore, StoredCredentials,
};
use serde::{Deserialize, Serialize};

/// The file format's version; a newer one is refused rather than misread.
const FORMAT_VERSION: u32 = 1;

/// Where tokens live, for every server of a runtime.
#[derive(Clone)]
pub enum TokenStorage {
    Files(PathBuf),
    Memory(Arc<Mutex<HashMap<String, StoredCredentials>>>),
}

impl std::fmt::Debug for TokenStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenStorage::Files(dir) => write!(f, "Files({})", dir.display()),
            TokenStorage::Memory(_) => f.write_str("Memory"),
        }
    }
}

impl TokenStorage {
    /// The tokens directory under the user's data directory, or memory when there is none.
    pub fn default_files() -> Self {
        use etcetera::BaseStrategy;
        match etcetera::choose_base_strategy() {
            Ok(strategy) => TokenStorage::Files(strategy.data_dir().join("mcpomni").join("tokens")),
            Err(_) => Self::memory(),
        }
    }

    pub fn memory() -> Self {
        TokenStorage::Memory(Arc::default())
    }

    /// The store of one server's tokens.
    pub fn for_server(&self, server: &str, url: &str) -> ServerTokens {
        match self {
            TokenStorage::Files(dir) => ServerTokens::File(Arc::new(TokenFile {
                path: dir.join(file_name(server, url)),
                dir: dir.clone(),
                url: url.to_owned(),
                server: server.to_owned(),
                held: AtomicBool::new(false),
            })),
            TokenStorage::Memory(map) => ServerTokens::Memory {
                map: map.clone(),
                key: format!("{server}\n{url}"),
            },
        }
    }
}

/// `<name>-<16 hex digits of the URL's hash>.json`, the name reduced to safe characters.
fn file_name(server: &str, url: &str) -> String {
    let safe: String = server
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-{:016x}.json", crate::hash::fnv1a(url.bytes()))
}

/// One server's tokens (cheap to clone; what rmcp's manager is given).
#[derive(Clone)]
pub enum ServerTokens {
    File(Arc<TokenFile>),
    Memory {
        map: Arc<Mutex<HashMap<String, StoredCredentials>>>,
        key: String,
    },
}

impl ServerTokens {
    /// Forgets the tokens; true when there were any.
    pub fn forget(&self) -> io::Result<bool> {
        match self {
            ServerTokens::File(file) => match fs::remove_file(&file.path) {
                Ok(()) => Ok(true),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(error) => Err(error),
            },
            ServerTokens::Memory { map, key } => Ok(map
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(key)
                .is_some()),
        }
    }

    /// Whether the kept access token is about to expire (rmcp would refresh it now). Unknown
    /// expiry, or no token: false.
    pub async fn expires_soon(&self) -> bool {
        let Ok(Some(stored)) = self.load().await else {
            return false;
        };
        let (Some(response), Some(received)) =
            (stored.token_response.as_ref(), stored.token_received_at)
        else {
            return false;
        };
        let Some(lifetime) = oauth2::TokenResponse::expires_in(response) else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let left = lifetime
            .as_secs()
            .saturating_sub(now.saturating_sub(received));
        let window = REFRESH_WINDOW_SECS.min(lifetime.as_secs() / 2).max(1);
        left < window + REFRESH_MARGIN_SECS
    }

    /// Takes the refresh lock for the caller until the returned value is dropped, waiting
    /// for another process that holds it; meanwhile rmcp's refresh guard on this store is a
    /// no-op. Memory stores have no lock (`None`). The caller must not run two refreshes of
    /// this store at once (`ServerAuth` holds its state lock throughout).
    pub async fn refresh_lock(&self) -> Result<Option<RefreshLock>, AuthError> {
        match self {
            ServerTokens::File(file) => {
                let lock = file.clone().lock().await?;
                file.held.store(true, Ordering::Release);
                Ok(Some(RefreshLock {
                    file: file.clone(),
                    _lock: lock,
                }))
            }
            ServerTokens::Memory { .. } => Ok(None),
        }
    }

    /// Keeps the secret dynamic registration gave `client_id`, beside its credentials (a
    /// file only: in memory the manager that holds it lives as long as the process).
    pub fn keep_registered_secret(&self, client_id: &str, secret: &str) -> Result<(), AuthError> {
        let ServerTokens::File(file) = self else {
            return Ok(());
        };
        let Some(mut on_disk) = file.read_on_disk()? else {
            return Ok(());
        };
        if on_disk.credentials.client_id != client_id {
            return Ok(());
        }
        on_disk.registered = Some(RegisteredClient {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
        });
        file.write_on_disk(on_disk)
    }

    /// The secret kept for a dynamically registered `client_id`.
    pub fn registered_secret(&self, client_id: &str) -> Option<String> {
        let ServerTokens::File(file) = self else {
            return None;
        };
        file.read_on_disk()
            .ok()
            .flatten()
            .and_then(|on_disk| on_disk.registered)
            .filter(|registered| registered.client_id == client_id)
            .map(|registered| registered.client_secret)
    }

    /// Where the tokens are kept, for messages.
    pub fn location(&self) -> String {
        match self {
            ServerTokens::File(file) => file.path.display().to_string(),
            ServerTokens::Memory { .. } => "memory".to_owned(),
        }
    }
}

/// A server's token file.
pub struct TokenFile {
    path: PathBuf,
    dir: PathBuf,
    url: String,
    server: String,
    /// A [`RefreshLock`] of this store is held: the refresh guard rmcp asks for is already
    /// ours (taking the file lock again would wait for ourselves).
    held: AtomicBool,
}

/// The refresh lock, held by the caller (see [`ServerTokens::refresh_lock`]).
pub struct RefreshLock {
    file: Arc<TokenFile>,
    _lock: File,
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        self.file.held.store(false, Ordering::Release);
    }
}

/// rmcp refreshes a token when less than `min(30 s, half its lifetime)` is left; the lock is
/// taken a little earlier, so it is held whenever rmcp decides to refresh.
const REFRESH_WINDOW_SECS: u64 = 30;
const REFRESH_MARGIN_SECS: u64 = 2;

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    server_url: String,
    credentials: StoredCredentials,
    /// The secret an authorization server gave the client it registered dynamically (rmcp
    /// keeps none): refreshes in later runs need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registered: Option<RegisteredClient>,
}

#[derive(Serialize, Deserialize, Clone)]
struct RegisteredClient {
    client_id: String,
    client_secret: String,
}

impl TokenFile {
    fn error(&self, what: impl std::fmt::Display) -> AuthError {
        AuthError::CredentialStoreError(format!(
            "token file {}: {what}; sign in again, or run `mcpomni logout {}`",
            self.path.display(),
            self.server
        ))
    }

    fn read(&self) -> Result<Option<StoredCredentials>, AuthError> {
        Ok(self.read_on_disk()?.map(|on_disk| on_disk.credentials))
    }

    fn read_on_disk(&self) -> Result<Option<OnDisk>, AuthError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.error(error)),
        };
        let mode = file
            .metadata()
            .map_err(|e| self.error(e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(self.error(format!(
                "readable by others (mode {mode:04o}); its tokens may have leaked, so it is not used"
            )));
        }
        let on_disk: OnDisk = serde_json::from_reader(io::BufReader::new(file))
            .map_err(|e| self.error(format!("not a token file ({e})")))?;
        if on_disk.version > FORMAT_VERSION {
            return Err(self.error(format!(
                "written by a newer mcpomni (format {}, this build reads {FORMAT_VERSION})",
                on_disk.version
            )));
        }
        if on_disk.server_url != self.url {
            // The server's URL changed in the config: these tokens belong elsewhere.
            return Ok(None);
        }
        Ok(Some(on_disk))
    }

    fn write(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        // A registered client's secret stays with the credentials of that client.
        let registered = self
            .read_on_disk()
            .ok()
            .flatten()
            .and_then(|old| old.registered)
            .filter(|registered| registered.client_id == credentials.client_id);
        self.write_on_disk(OnDisk {
            version: FORMAT_VERSION,
            server_url: self.url.clone(),
            credentials,
            registered,
        })
    }

    fn write_on_disk(&self, on_disk: OnDisk) -> Result<(), AuthError> {
        crate::memory::file::private::create_dir(&self.dir).map_err(|e| self.error(e))?;
        let bytes = serde_json::to_vec(&on_disk).map_err(|e| self.error(e))?;
        let temporary = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &self.path)
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(self.error(error));
        }
        Ok(())
    }

    /// Waits for the refresh lock (off the async threads: it blocks).
    async fn lock(self: Arc<Self>) -> Result<File, AuthError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || -> io::Result<File> {
            crate::memory::file::private::create_dir(&me.dir)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(me.path.with_extension("lock"))?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| self.error(e))?
        .map_err(|e| self.error(format!("cannot take its lock: {e}")))
    }
}

#[async_trait::async_trait]
impl CredentialStore for ServerTokens {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        match self {
            ServerTokens::File(file) => file.read(),
            ServerTokens::Memory { map, key } => Ok(map
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key)
                .cloned()),
        }
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        match self {
            ServerTokens::File(file) => file.write(credentials),
            ServerTokens::Memory { map, key } => {
                map.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key.clone(), credentials);
                Ok(())
            }
        }
    }

    async fn clear(&self) -> Result<(), AuthError> {
        match self {
            ServerTokens::File(file) => match fs::remove_file(&file.path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(file.error(error)),
                _ => Ok(()),
            },
            ServerTokens::Memory { map, key } => {
                map.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(key);
                Ok(())
            }
        }
    }

    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        match self {
            ServerTokens::File(file) if file.held.load(Ordering::Acquire) => Ok(None),
            ServerTokens::File(file) => {
                let lock = file.clone().lock().await?;
                Ok(Some(CredentialRefreshGuard::new(lock)))
            }
            ServerTokens::Memory { .. } => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(client_id: &str) -> StoredCredentials {
        StoredCredentials::new(client_id.to_owned(), None, vec!["a".into()], Some(1))
    }

    #[tokio::test]
    async fn a_token_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let storage = TokenStorage::Files(dir.path().join("tokens"));
        let tokens = storage.for_server("srv", "http://127.0.0.1:1/mcp");
        assert!(tokens.load().await.unwrap().is_none());
        tokens.save(credentials("c1")).await.unwrap();
        let ServerTokens::File(file) = &tokens else {
            panic!("expected a file store")
        };
        let mode = fs::metadata(&file.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&file.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(tokens.load().await.unwrap().unwrap().client_id, "c1");
        // Another URL under the same name has no tokens.
        let other = storage.for_server("srv", "http://127.0.0.1:2/mcp");
        assert!(other.load().await.unwrap().is_none());
        assert!(tokens.forget().unwrap());
        assert!(tokens.load().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_registered_clients_secret_stays_with_its_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenStorage::Files(dir.path().to_owned()).for_server("srv", "http://h/mcp");
        tokens.save(credentials("c1")).await.unwrap();
        tokens.keep_registered_secret("c1", "s1").unwrap();
        assert_eq!(tokens.registered_secret("c1").as_deref(), Some("s1"));
        // A refresh saves new credentials of the same client: the secret stays.
        tokens.save(credentials("c1")).await.unwrap();
        assert_eq!(tokens.registered_secret("c1").as_deref(), Some("s1"));
        assert_eq!(tokens.registered_secret("c2"), None);
        // Another client's credentials do not inherit it.
        tokens.save(credentials("c2")).await.unwrap();
        assert_eq!(tokens.registered_secret("c1"), None);
        assert_eq!(tokens.registered_secret("c2"), None);
        let ServerTokens::File(file) = &tokens else {
            panic!("expected a file store")
        };
        let mode = fs::metadata(&file.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[tokio::test]
    async fn a_token_file_readable_by_others_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenStorage::Files(dir.path().to_owned()).for_server("srv", "http://h/mcp");
        tokens.save(credentials("c1")).await.unwrap();
        let ServerTokens::File(file) = &tokens else {
            panic!("expected a file store")
        };
        fs::set_permissions(&file.path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = tokens.load().await.unwrap_err().to_string();
        assert!(error.contains("readable by others (mode 0644)"), "{error}");
        assert!(error.contains(&file.path.display().to_string()), "{error}");
        assert!(error.contains("mcpomni logout srv"), "{error}");
    }

    #[tokio::test]
    async fn a_corrupt_token_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenStorage::Files(dir.path().to_owned()).for_server("srv", "http://h/mcp");
        let ServerTokens::File(file) = &tokens else {
            panic!("expected a file store")
        };
        fs::write(&file.path, "{not json").unwrap();
        fs::set_permissions(&file.path, fs::Permissions::from_mode(0o600)).unwrap();
        let error = tokens.load().await.unwrap_err().to_string();
        assert!(error.contains("not a token file"), "{error}");
        assert!(error.contains(&file.path.display().to_string()), "{error}");
    }

    #[tokio::test]
    async fn the_refresh_lock_is_exclusive_between_stores() {
        let dir = tempfile::tempdir().unwrap();
        let storage = TokenStorage::Files(dir.path().to_owned());
        let first = storage.for_server("srv", "http://h/mcp");
        let second = storage.for_server("srv", "http://h/mcp");
        let held = first.acquire_refresh_guard().await.unwrap();
        let mut waiting = tokio::spawn(async move { second.acquire_refresh_guard().await.is_ok() });
        // It must not finish while the first is held (nothing to observe but that).
        let early = tokio::time::timeout(std::time::Duration::from_millis(100), &mut waiting).await;
        assert!(early.is_err(), "the second lock must wait for the first");
        drop(held);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn a_held_refresh_lock_makes_rmcps_guard_a_no_op_for_its_store_only() {
        let dir = tempfile::tempdir().unwrap();
        let storage = TokenStorage::Files(dir.path().to_owned());
        let mine = storage.for_server("srv", "http://h/mcp");
        let other = storage.for_server("srv", "http://h/mcp");
        let held = mine.refresh_lock().await.unwrap();
        assert!(held.is_some());
        // Ours: no second lock (it would wait for ourselves).
        assert!(mine.acquire_refresh_guard().await.unwrap().is_none());
        // Another store (another process) waits for it.
        let mut waiting = tokio::spawn(async move { other.acquire_refresh_guard().await.is_ok() });
        let early = tokio::time::timeout(std::time::Duration::from_millis(100), &mut waiting).await;
        assert!(early.is_err(), "the other store must wait");
        drop(held);
        assert!(waiting.await.unwrap());
        // Released: our own guard is a real lock again.
        assert!(mine.acquire_refresh_guard().await.unwrap().is_some());
    }
}
