//! OAuth 2.1 for HTTP servers. A [`ServerAuth`] per server holds its access token and knows
//! how to get a better one: refresh it before it expires, sign in again when the server
//! answers 401, step up to more scopes on a 403 `insufficient_scope` (at most
//! [`MAX_STEP_UPS`] times per challenge), or use a grant that needs no browser (client
//! credentials, cross-app access). Discovery (RFC 9728 protected-resource metadata, RFC 8414
//! and OpenID Connect authorization-server metadata, the 2025-03-26 fallbacks), client
//! registration (pre-registered, client-id metadata document, dynamic), PKCE and the token
//! exchange are rmcp's `AuthorizationManager`; this module decides when, shows the person
//! what to do ([`browser`]), keeps the tokens ([`store`]) and signs client assertions
//! ([`jwt`]).
//!
//! Whether a request may start a browser sign-in is the runtime's choice ([`AuthOptions`]):
//! the dashboard signs in when asked (a key on a NeedsAuth server), headless commands in a
//! terminal when a server asks, listing commands and pipes never. No token, code, verifier
//! or secret is ever put in a message.

pub mod browser;
mod checks;
mod grants;
pub(crate) mod http;
pub mod jwt;
mod oauth_http;
pub mod store;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use oauth2::TokenResponse;
use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationMetadata, AuthorizationRequest,
    AuthorizationSession, CredentialStore, OAuthClientConfig, OAuthState,
};
use tokio::sync::Mutex;

use crate::config::{OAuthConfig, OAuthGrant};
use crate::runtime::challenge::AuthChallenge;
use browser::BrowserStep;
use store::{ServerTokens, TokenStorage};

/// Sign-ins one challenged scope may cause (the first included) before requests fail: a
/// server that keeps refusing the scope it asked for gets no authorization loop.
pub const MAX_STEP_UPS: u32 = 3;
/// The step of a failure that only a person signing in can fix (nothing else went wrong).
pub const SIGN_IN_NEEDED: &str = "sign-in";
/// The name a dynamically registered client gets.
const CLIENT_NAME: &str = "mcpomni";

/// How a runtime handles OAuth for all its servers.
#[derive(Clone, Debug)]
pub struct AuthOptions {
    pub tokens: TokenStorage,
    /// How a person signs in when a request needs it; `None`: requests never start a
    /// sign-in (the server shows NeedsAuth until one is started on purpose).
    pub sign_in_on_demand: Option<BrowserStep>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            tokens: TokenStorage::default_files(),
            sign_in_on_demand: None,
        }
    }
}

impl fmt::Debug for BrowserStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserStep::Loopback { wait, .. } => write!(f, "Loopback({wait:?})"),
            BrowserStep::FetchRedirect => f.write_str("FetchRedirect"),
        }
    }
}

/// Why a server has no usable token: which server, at which step, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub server: String,
    pub step: &'static str,
    pub message: String,
}

impl AuthFailure {
    pub fn new(server: &str, step: &'static str, message: impl Into<String>) -> Self {
        Self {
            server: server.to_owned(),
            step,
            message: message.into(),
        }
    }
}

impl AuthFailure {
    /// The step and the message, for places that already name the server (its state's
    /// reason in the Servers pane and `mcpomni servers`).
    pub fn reason(&self) -> String {
        format!("{}: {}", self.step, self.message)
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server `{}`: {}: {}",
            self.server, self.step, self.message
        )
    }
}

impl std::error::Error for AuthFailure {}

/// One server's OAuth state, shared by its connections (it outlives reconnects).
pub struct ServerAuth {
    server: String,
    url: String,
    config: OAuthConfig,
    tokens: ServerTokens,
    sign_in_on_demand: Option<BrowserStep>,
    state: Mutex<State>,
    /// A browser sign-in is waiting for the person (deadlines pause meanwhile).
    signing_in: std::sync::atomic::AtomicBool,
    /// The config says `"auth": {"method": "oauth"}` (not just a 401 seen).
    configured: bool,
    /// The OAuth HTTP client of the newest manager (what it learnt during a sign-in).
    last_http: std::sync::Mutex<Option<oauth_http::GuardedHttp>>,
}

#[derive(Default)]
struct State {
    /// Holds the current tokens (in the store) and the client that refreshes them.
    manager: Option<AuthorizationManager>,
    /// The store has been read.
    loaded: bool,
    /// Every scope asked for so far: a step-up asks for their union.
    scopes: BTreeSet<String>,
    /// Sign-ins per challenged scope set.
    sign_ins: HashMap<String, u32>,
}

impl ServerAuth {
    pub fn new(
        server: &str,
        url: &str,
        config: Option<OAuthConfig>,
        options: &AuthOptions,
    ) -> Self {
        Self {
            server: server.to_owned(),
            url: url.to_owned(),
            configured: config.is_some(),
            last_http: std::sync::Mutex::default(),
            config: config.unwrap_or_default(),
            tokens: options.tokens.for_server(server, url),
            sign_in_on_demand: options.sign_in_on_demand.clone(),
            state: Mutex::default(),
            signing_in: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether a browser sign-in is under way.
    pub fn signing_in(&self) -> bool {
        self.signing_in.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn tokens(&self) -> &ServerTokens {
        &self.tokens
    }

    fn failure(&self, step: &'static str, message: impl Into<String>) -> AuthFailure {
        AuthFailure::new(&self.server, step, message)
    }

    /// What rmcp said, in a line, with anything configured as secret taken out.
    fn rmcp_failure(&self, step: &'static str, error: &AuthError) -> AuthFailure {
        let mut text = crate::text::sanitize_line(&error.to_string());
        for secret in [&self.config.client_secret, &self.config.private_key]
            .into_iter()
            .flatten()
        {
            if !secret.is_empty() {
                text = text.replace(secret.as_str(), "<redacted>");
            }
        }
        self.failure(step, text)
    }

    /// The resource indicator (RFC 8707) sent with every token request: the server's URL.
    fn resource(&self) -> String {
        self.url.split('#').next().unwrap_or(&self.url).to_owned()
    }

    /// Why a request could not start a sign-in here: where one is started on purpose (the
    /// dashboard's key, `mcpomni auth`) is said by whoever shows this.
    fn needs_sign_in(&self, why: &str) -> AuthFailure {
        self.failure(SIGN_IN_NEEDED, format!("{why} (OAuth)"))
    }

    async fn new_manager(&self, step: &'static str) -> Result<AuthorizationManager, AuthFailure> {
        let http =
            oauth_http::GuardedHttp::for_server(&self.url).map_err(|e| self.failure(step, e))?;
        let mut manager = AuthorizationManager::new_with_oauth_http_client(
            self.url.as_str(),
            Arc::new(http.clone()),
        )
        .await
        .map_err(|e| self.rmcp_failure(step, &e))?;
        *self
            .last_http
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(http);
        manager.set_credential_store(self.tokens.clone());
        Ok(manager)
    }

    /// The current access token (refreshed when it is about to expire), or `None` when
    /// there is none yet and the request should go out without one.
    pub async fn token(&self) -> Result<Option<String>, AuthFailure> {
        let mut state = self.state.lock().await;
        if !state.loaded {
            state.loaded = true;
            match self.load(&mut state).await {
                Ok(manager) => state.manager = manager,
                // The server (or its authorization server) cannot be reached: the request
                // goes out without a token and fails with the real reason; the kept tokens
                // are read again next time.
                Err(failure) if failure.step == "discovery" => {
                    tracing::warn!("{failure}");
                    state.loaded = false;
                }
                Err(failure) => return Err(failure),
            }
        }
        if state.manager.is_none() && self.config.grant != OAuthGrant::AuthorizationCode {
            state.manager = Some(self.without_browser(None, &[]).await?);
        }
        let Some(manager) = &state.manager else {
            return Ok(None);
        };
        // A refresh is due: wait for any other process refreshing these tokens, and hold
        // the lock while rmcp reads them again (and refreshes only if they are still due).
        let _refreshing = if self.tokens.expires_soon().await {
            self.refresh_lock().await?
        } else {
            None
        };
        match manager.get_access_token().await {
            Ok(token) => Ok(Some(token)),
            Err(AuthError::AuthorizationRequired) => {
                // No refresh token, or the authorization server refused it.
                state.manager = None;
                if self.config.grant != OAuthGrant::AuthorizationCode {
                    let manager = self.without_browser(None, &[]).await?;
                    let token = manager
                        .get_access_token()
                        .await
                        .map_err(|e| self.rmcp_failure("client credentials", &e))?;
                    state.manager = Some(manager);
                    return Ok(Some(token));
                }
                Ok(None)
            }
            Err(error) => Err(self.rmcp_failure("token refresh", &error)),
        }
    }

    /// The tokens' refresh lock (see [`ServerTokens::refresh_lock`]).
    async fn refresh_lock(&self) -> Result<Option<store::RefreshLock>, AuthFailure> {
        self.tokens
            .refresh_lock()
            .await
            .map_err(|e| self.rmcp_failure("token store", &e))
    }

    /// For legacy SSE, which cannot answer a 401 by signing in in the middle of a request:
    /// the current token, or — for a server configured for OAuth, when this runtime may start
    /// a sign-in — one got by signing in before connecting.
    pub async fn token_or_sign_in(&self) -> Result<Option<String>, AuthFailure> {
        if let Some(token) = self.token().await? {
            return Ok(Some(token));
        }
        match &self.sign_in_on_demand {
            Some(step) if self.configured => {
                self.sign_in(step).await?;
                self.token().await
            }
            _ => Ok(None),
        }
    }

    /// Tokens saved by an earlier run (or another process).
    async fn load(&self, state: &mut State) -> Result<Option<AuthorizationManager>, AuthFailure> {
        let Some(stored) = self
            .tokens
            .load()
            .await
            .map_err(|e| self.rmcp_failure("token store", &e))?
        else {
            return Ok(None);
        };
        if stored.token_response.is_none() {
            return Ok(None);
        }
        state.scopes.extend(stored.granted_scopes.iter().cloned());
        let mut manager = self.new_manager("discovery").await?;
        let usable = manager
            .initialize_from_store()
            .await
            .map_err(|e| self.rmcp_failure("discovery", &e))?;
        if !usable {
            return Ok(None);
        }
        let secret = match (&self.config.client_id, &self.config.client_secret) {
            (Some(id), Some(secret)) if *id == stored.client_id => Some(secret.clone()),
            _ => self.tokens.registered_secret(&stored.client_id),
        };
        if let Some(secret) = secret {
            // A confidential client refreshes with its secret.
            let client =
                OAuthClientConfig::new(stored.client_id.clone(), "http://127.0.0.1/callback")
                    .with_client_secret(secret);
            manager
                .configure_client(client)
                .map_err(|e| self.rmcp_failure("token store", &e))?;
        }
        Ok(Some(manager))
    }

    /// The server refused `sent` (HTTP 401): a token another request got meanwhile, a
    /// refreshed one, or a new sign-in when this runtime may start one.
    pub async fn unauthorized(
        &self,
        challenge: &str,
        sent: Option<&str>,
    ) -> Result<String, AuthFailure> {
        let mut state = self.state.lock().await;
        if let Some(manager) = &state.manager {
            // Another process may be refreshing after the same refusal: one refresh each.
            let _refreshing = self.refresh_lock().await?;
            if let Ok(current) = manager.get_access_token().await
                && Some(current.as_str()) != sent
            {
                return Ok(current);
            }
            if sent.is_some()
                && let Ok(fresh) = manager.refresh_token().await
                && Some(fresh.access_token().secret().as_str()) != sent
            {
                return Ok(fresh.access_token().secret().to_owned());
            }
        }
        state.manager = None;
        let scopes = self.scopes_for(&mut state, challenge);
        let manager = match self.config.grant {
            OAuthGrant::AuthorizationCode => match &self.sign_in_on_demand {
                Some(step) => {
                    Self::count_sign_in(&mut state, challenge)
                        .map_err(|key| self.too_many_sign_ins(&key))?;
                    self.sign_in_with(step, Some(challenge), &scopes).await?
                }
                None => return Err(self.needs_sign_in("the server wants a sign-in")),
            },
            _ => self.without_browser(Some(challenge), &scopes).await?,
        };
        let token = manager
            .get_access_token()
            .await
            .map_err(|e| self.rmcp_failure("authorization", &e))?;
        state.manager = Some(manager);
        Ok(token)
    }

    /// The server wants more scope (HTTP 403 `insufficient_scope`): sign in again for the
    /// union of what was asked for so far and what the challenge names.
    pub async fn insufficient_scope(&self, challenge: &str) -> Result<String, AuthFailure> {
        let mut state = self.state.lock().await;
        let key = Self::count_sign_in(&mut state, challenge)
            .map_err(|key| self.too_many_sign_ins(&key))?;
        let scopes = self.scopes_for(&mut state, challenge);
        let manager = match self.config.grant {
            OAuthGrant::AuthorizationCode => match &self.sign_in_on_demand {
                Some(step) => self.sign_in_with(step, Some(challenge), &scopes).await?,
                None => {
                    return Err(
                        self.needs_sign_in(&format!("the server wants more scope (\"{key}\")"))
                    );
                }
            },
            _ => self.without_browser(Some(challenge), &scopes).await?,
        };
        let token = manager
            .get_access_token()
            .await
            .map_err(|e| self.rmcp_failure("step-up", &e))?;
        state.manager = Some(manager);
        Ok(token)
    }

    /// Counts a sign-in for the challenge's scope; `Err(scope)` when it has had its share.
    fn count_sign_in(state: &mut State, challenge: &str) -> Result<String, String> {
        let key = AuthChallenge::parse(challenge).scope.unwrap_or_default();
        let count = state.sign_ins.entry(key.clone()).or_insert(0);
        if *count >= MAX_STEP_UPS {
            return Err(key);
        }
        *count += 1;
        Ok(key)
    }

    fn too_many_sign_ins(&self, scope: &str) -> AuthFailure {
        self.failure(
            "step-up",
            format!(
                "the server still refuses scope \"{scope}\" after {MAX_STEP_UPS} sign-ins; giving up"
            ),
        )
    }

    /// The scopes to ask for: the configured ones, else the union of the challenge's and
    /// those asked for before (empty: let discovery choose).
    fn scopes_for(&self, state: &mut State, challenge: &str) -> Vec<String> {
        if !self.config.scopes.is_empty() {
            state.scopes.extend(self.config.scopes.iter().cloned());
        }
        if let Some(scope) = AuthChallenge::parse(challenge).scope {
            state
                .scopes
                .extend(scope.split_whitespace().map(str::to_owned));
        }
        state.scopes.iter().cloned().collect()
    }

    /// Signs in on purpose (`mcpomni auth`, the dashboard's key), whatever the runtime allows
    /// for requests.
    pub async fn sign_in(&self, step: &BrowserStep) -> Result<(), AuthFailure> {
        let mut state = self.state.lock().await;
        state.loaded = true;
        let scopes: Vec<String> = if self.config.scopes.is_empty() {
            state.scopes.iter().cloned().collect()
        } else {
            self.config.scopes.clone()
        };
        let manager = match self.config.grant {
            OAuthGrant::AuthorizationCode => self.sign_in_with(step, None, &scopes).await?,
            _ => self.without_browser(None, &scopes).await?,
        };
        state.manager = Some(manager);
        Ok(())
    }

    /// Forgets this server's tokens (`mcpomni logout`); true when there were any.
    pub async fn forget(&self) -> Result<bool, AuthFailure> {
        let mut state = self.state.lock().await;
        state.manager = None;
        state.loaded = true;
        self.tokens
            .forget()
            .map_err(|e| self.failure("token store", e.to_string()))
    }

    /// The authorization-code flow with PKCE, through `step`.
    async fn sign_in_with(
        &self,
        step: &BrowserStep,
        challenge: Option<&str>,
        scopes: &[String],
    ) -> Result<AuthorizationManager, AuthFailure> {
        let pending = step.begin(&self.server, self.config.redirect_port).await?;
        let mut request =
            AuthorizationRequest::new(pending.redirect_uri()).with_client_name(CLIENT_NAME);
        if let Some(client_id) = &self.config.client_id {
            request = request.with_preregistered_client(client_id.clone());
            if let Some(secret) = &self.config.client_secret {
                request = request.with_client_secret(secret.clone());
            }
        }
        if let Some(url) = &self.config.client_metadata_url {
            request = request.with_client_metadata_url(url.clone());
        }
        if let Some(challenge) = challenge {
            request = request.with_challenge(challenge.to_owned());
        }
        request = if scopes.is_empty() {
            request.with_initial_scope_selection()
        } else {
            request.with_scopes(scopes.iter().cloned())
        };
        // Discovery, our checks, then registration (rmcp's `start_authorization` would
        // register right after discovering, before anything could be checked).
        let mut manager = self.new_manager("discovery").await?;
        let metadata = match manager.resolve_metadata_from_challenge(challenge).await {
            Ok(resolution) => resolution.metadata,
            Err(error @ AuthError::AuthorizationServerMismatch { .. })
                if challenge
                    .is_none_or(|c| AuthChallenge::parse(c).resource_metadata.is_none()) =>
            {
                // A 2025-03-26 server: no protected-resource metadata, the authorization
                // server's metadata at the server's origin naming an issuer with a path.
                // When there is none, the mismatch is what to report.
                match self.legacy_origin_metadata().await {
                    Ok(metadata) => metadata,
                    Err(_) => return Err(self.rmcp_failure("discovery", &error)),
                }
            }
            Err(error) => return Err(self.rmcp_failure("discovery", &error)),
        };
        checks::endpoints(&self.server, &metadata)?;
        manager.set_metadata(metadata);
        let session = AuthorizationSession::new(manager, request)
            .await
            .map_err(|(_, e)| self.rmcp_failure("registration", &e))?;
        let mut oauth = OAuthState::Session(session);
        let url = oauth
            .get_authorization_url()
            .await
            .map_err(|e| self.rmcp_failure("authorization", &e))?;
        self.signing_in
            .store(true, std::sync::atomic::Ordering::Release);
        let callback = pending.wait(&self.server, &url).await;
        self.signing_in
            .store(false, std::sync::atomic::Ordering::Release);
        let callback = callback?;
        checks::callback_state(&self.server, &url, &callback.state)?;
        oauth
            .handle_callback_with_issuer(
                &callback.code,
                &callback.state,
                callback.issuer.as_deref(),
            )
            .await
            .map_err(|e| self.rmcp_failure("token exchange", &e))?;
        let manager = oauth
            .into_authorization_manager()
            .ok_or_else(|| self.failure("token exchange", "no authorization came back"))?;
        self.keep_registered_secret().await;
        Ok(manager)
    }

    /// Keeps a secret dynamic registration handed back, for refreshes in later runs.
    async fn keep_registered_secret(&self) {
        let registered = self
            .last_http
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(oauth_http::GuardedHttp::registered_secret);
        if let Some((client_id, secret)) = registered
            && let Err(error) = self.tokens.keep_registered_secret(&client_id, &secret)
        {
            tracing::warn!("{}", self.rmcp_failure("token store", &error));
        }
    }

    /// The 2025-03-26 discovery: RFC 8414 metadata at the server's origin. Its issuer may
    /// have a path there, but only on the server's own origin.
    async fn legacy_origin_metadata(&self) -> Result<AuthorizationMetadata, AuthFailure> {
        let step = "discovery";
        let server = url::Url::parse(&self.url).map_err(|e| self.failure(step, e.to_string()))?;
        let mut discovery = server.clone();
        discovery.set_path("/.well-known/oauth-authorization-server");
        discovery.set_query(None);
        discovery.set_fragment(None);
        let response = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| self.failure(step, e.to_string()))?
            .get(discovery.as_str())
            .send()
            .await
            .map_err(|e| self.failure(step, format!("{discovery}: {e}")))?;
        if !response.status().is_success() {
            return Err(self.failure(
                step,
                format!("{discovery} answered HTTP {}", response.status().as_u16()),
            ));
        }
        let metadata: AuthorizationMetadata = response
            .json()
            .await
            .map_err(|e| self.failure(step, format!("{discovery} is not metadata ({e})")))?;
        let same_origin = metadata
            .issuer
            .as_deref()
            .and_then(|issuer| url::Url::parse(issuer).ok())
            .is_some_and(|issuer| issuer.origin() == server.origin());
        if !same_origin {
            return Err(self.failure(
                step,
                format!(
                    "the metadata at {discovery} names issuer {} from another origin",
                    metadata.issuer.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        Ok(metadata)
    }

    /// Client credentials or cross-app access: discovery, one grant, saved.
    async fn without_browser(
        &self,
        challenge: Option<&str>,
        scopes: &[String],
    ) -> Result<AuthorizationManager, AuthFailure> {
        let mut manager = self.new_manager("discovery").await?;
        let metadata: AuthorizationMetadata = manager
            .resolve_metadata_from_challenge(challenge)
            .await
            .map_err(|e| self.rmcp_failure("discovery", &e))?
            .metadata;
        checks::endpoints(&self.server, &metadata)?;
        let scopes: Vec<String> = if scopes.is_empty() {
            self.config.scopes.clone()
        } else {
            scopes.to_vec()
        };
        let credentials = match self.config.grant {
            OAuthGrant::CrossApp => self.cross_app(&metadata, &scopes).await?,
            _ => self.client_credentials(&metadata, &scopes).await?,
        };
        self.save(credentials).await?;
        manager.set_metadata(metadata);
        manager
            .initialize_from_store()
            .await
            .map_err(|e| self.rmcp_failure("token store", &e))?;
        Ok(manager)
    }
}
