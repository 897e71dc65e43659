//! A loopback OAuth 2.1 authorization server and the MCP server it protects, for the OAuth
//! tests. Two listeners on 127.0.0.1 (so the authorization server is another origin, as it
//! usually is):
//!
//! - the resource: `POST /mcp` speaks just enough streamable HTTP (JSON answers, no
//!   sessions) for `initialize`, notifications, `ping`, `tools/list` and `tools/call`, and
//!   answers 401 with `WWW-Authenticate: Bearer resource_metadata="…"` without a valid
//!   access token; `GET /mcp` is 405; RFC 9728 protected-resource metadata.
//! - the authorization server: RFC 8414 metadata, dynamic registration, `/authorize` (which
//!   redirects straight back with a code, a refusal or a wrong state: no person involved) and
//!   `/token` (authorization code with PKCE S256, refresh tokens that rotate, revocation).
//!
//! What each test wants to go wrong is set in [`Behaviour`]; every request is journaled, and
//! every secret issued or received (codes, verifiers, tokens) is kept so a test can check
//! that none reaches an output of the client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, Json, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use serde_json::{Value, json};

/// What `/authorize` does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorize {
    /// Redirects back with a code and the state it was given.
    Approve,
    /// Redirects back with `error=access_denied`.
    Deny,
    /// Redirects back with a code and another state.
    WrongState,
}

/// What the authorization server's RFC 8414 metadata document is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metadata {
    Good,
    /// HTTP 500 with a text body.
    Status500,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// Well-formed, but its `issuer` is another one than the one it is published for.
    WrongIssuer,
    /// Well-formed, with `authorization_endpoint` on a plain-http host that is not loopback.
    PlainHttpAuthorize,
    /// Well-formed, with `token_endpoint` on a plain-http host that is not loopback.
    PlainHttpToken,
}

/// What the protected-resource metadata says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceMetadata {
    Good,
    /// Names another resource than the server's URL.
    WrongResource,
    /// Names an authorization server whose issuer has a path (`/tenant`) but publishes its
    /// metadata nowhere but the origin's root, where it belongs to another issuer.
    PathIssuer,
}

/// The knobs a test turns.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub authorize: Authorize,
    pub metadata: Metadata,
    pub resource_metadata: ResourceMetadata,
    /// `expires_in` of every access token.
    pub expires_in: u64,
    /// How long a refresh_token grant takes (so two clients' refreshes overlap).
    pub refresh_delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            authorize: Authorize::Approve,
            metadata: Metadata::Good,
            resource_metadata: ResourceMetadata::Good,
            expires_in: 3600,
            refresh_delay: Duration::ZERO,
        }
    }
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Default)]
struct Inner {
    behaviour: Behaviour,
    /// `METHOD /path` of every request, both listeners, in order.
    journal: Vec<String>,
    /// `grant_type` of every `/token` request, in order.
    grants: Vec<String>,
    /// `/token` answers that were errors (`grant_type: error`).
    token_errors: Vec<String>,
    /// Registered clients: id → redirect URIs.
    clients: HashMap<String, Vec<String>>,
    codes: HashMap<String, PendingCode>,
    /// Access token → when it expires.
    access: HashMap<String, Instant>,
    /// Refresh tokens that are still good.
    refresh: Vec<String>,
    /// Every code, verifier and token issued or received.
    secrets: Vec<String>,
    /// `tools/call` requests served.
    calls: usize,
    counter: u64,
}

impl Inner {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let noise: String = (0..24)
            .map(|_| fastrand::alphanumeric())
            .collect::<String>();
        let value = format!("{prefix}{}{noise}", self.counter);
        self.secrets.push(value.clone());
        value
    }
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    /// `http://127.0.0.1:PORT` of the resource.
    resource_origin: String,
    /// `http://127.0.0.1:PORT` of the authorization server (its issuer).
    issuer: String,
    /// What the legacy SSE endpoint sends: the answers to `POST /messages`.
    sse: tokio::sync::broadcast::Sender<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `token` is an access token that has not expired.
    fn valid(&self, token: &str) -> bool {
        self.lock()
            .access
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }
}

/// The running pair of servers; both stop when this is dropped.
pub struct OAuthServer {
    shared: Shared,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl OAuthServer {
    pub async fn start(behaviour: Behaviour) -> Self {
        let resource = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the resource");
        let authorization = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the authorization server");
        let port = |l: &tokio::net::TcpListener| l.local_addr().expect("address").port();
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                behaviour,
                ..Inner::default()
            })),
            resource_origin: format!("http://127.0.0.1:{}", port(&resource)),
            issuer: format!("http://127.0.0.1:{}", port(&authorization)),
            sse: tokio::sync::broadcast::channel(64).0,
        };
        let resource_app = Router::new()
            .route("/mcp", post(mcp).get(no_stream).delete(no_stream))
            .route("/sse", get(sse_stream))
            .route("/messages", post(sse_message))
            .route(
                "/.well-known/oauth-protected-resource/sse",
                get(protected_resource),
            )
            .route(
                "/.well-known/oauth-protected-resource",
                get(protected_resource),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(protected_resource),
            )
            .fallback(any(not_found))
            .with_state(shared.clone());
        let authorization_app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(authorization_metadata),
            )
            .route("/register", post(register))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .fallback(any(not_found))
            .with_state(shared.clone());
        let tasks = vec![
            tokio::spawn(async move {
                let _ = axum::serve(resource, resource_app).await;
            }),
            tokio::spawn(async move {
                let _ = axum::serve(authorization, authorization_app).await;
            }),
        ];
        Self { shared, tasks }
    }

    /// The legacy SSE endpoint of the same server (`GET /sse`, `POST /messages`).
    pub fn sse_url(&self) -> String {
        format!("{}/sse", self.shared.resource_origin)
    }

    /// The MCP server's URL (what a config names).
    pub fn url(&self) -> String {
        format!("{}/mcp", self.shared.resource_origin)
    }

    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.lock().behaviour);
    }

    /// `grant_type` of every `/token` request so far.
    pub fn grants(&self) -> Vec<String> {
        self.shared.lock().grants.clone()
    }

    /// How many `/token` requests had this grant type.
    pub fn grant_count(&self, grant: &str) -> usize {
        self.shared
            .lock()
            .grants
            .iter()
            .filter(|g| *g == grant)
            .count()
    }

    /// How many requests were `METHOD /path` (query left out).
    pub fn requests_to(&self, what: &str) -> usize {
        self.shared
            .lock()
            .journal
            .iter()
            .filter(|r| *r == what)
            .count()
    }

    pub fn journal(&self) -> Vec<String> {
        self.shared.lock().journal.clone()
    }

    /// `tools/call` requests served (with a good token).
    pub fn calls(&self) -> usize {
        self.shared.lock().calls
    }

    /// Every code, verifier and token seen so far.
    pub fn secrets(&self) -> Vec<String> {
        self.shared.lock().secrets.clone()
    }

    /// Every access token expires now (the next request with one is refused).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for expiry in self.shared.lock().access.values_mut() {
            *expiry = now;
        }
    }

    /// Every refresh token is revoked.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.lock().refresh.clear();
    }
}

/// The secrets of `server` that appear in `text`, by kind (never the values themselves).
pub fn leaked(server: &OAuthServer, text: &str) -> Vec<String> {
    server
        .secrets()
        .into_iter()
        .filter(|secret| text.contains(secret.as_str()))
        .map(|secret| secret.chars().take(3).collect())
        .collect()
}

fn record(shared: &Shared, method: &Method, uri: &Uri) {
    shared
        .lock()
        .journal
        .push(format!("{method} {}", uri.path()));
}

async fn not_found(State(shared): State<Shared>, method: Method, uri: Uri) -> StatusCode {
    record(&shared, &method, &uri);
    StatusCode::NOT_FOUND
}

async fn not_allowed(State(shared): State<Shared>, method: Method, uri: Uri) -> StatusCode {
    record(&shared, &method, &uri);
    StatusCode::METHOD_NOT_ALLOWED
}

/// `GET` and `DELETE /mcp`: 401 without a good token (what a client probes for), else 405.
async fn no_stream(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&shared, &method, &uri);
    match bearer(&headers) {
        Some(token) if shared.valid(&token) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        given => unauthorized(&shared, given.is_some()),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

async fn protected_resource(State(shared): State<Shared>, method: Method, uri: Uri) -> Response {
    record(&shared, &method, &uri);
    let resource = match shared.lock().behaviour.resource_metadata {
        ResourceMetadata::Good if uri.path().ends_with("/sse") => {
            format!("{}/sse", shared.resource_origin)
        }
        ResourceMetadata::Good | ResourceMetadata::PathIssuer => {
            format!("{}/mcp", shared.resource_origin)
        }
        ResourceMetadata::WrongResource => format!("{}/other", shared.resource_origin),
    };
    let authorization_server = match shared.lock().behaviour.resource_metadata {
        ResourceMetadata::PathIssuer => format!("{}/tenant", shared.issuer),
        _ => shared.issuer.clone(),
    };
    Json(json!({
        "resource": resource,
        "authorization_servers": [authorization_server],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

async fn authorization_metadata(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
) -> Response {
    record(&shared, &method, &uri);
    let issuer = shared.issuer.clone();
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": ["mcp"],
    });
    let metadata = shared.lock().behaviour.metadata.clone();
    match metadata {
        Metadata::Good => {}
        Metadata::Status500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "the database is on fire").into_response();
        }
        Metadata::Malformed => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "{\"issuer\": \"http://127.0.0.1",
            )
                .into_response();
        }
        Metadata::WrongIssuer => {
            document["issuer"] = json!(format!("{issuer}/elsewhere"));
        }
        Metadata::PlainHttpAuthorize => {
            document["authorization_endpoint"] = json!("http://example.invalid/authorize");
        }
        Metadata::PlainHttpToken => {
            document["token_endpoint"] = json!("http://example.invalid/token");
        }
    }
    Json(document).into_response()
}

async fn register(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    Json(request): Json<Value>,
) -> Response {
    record(&shared, &method, &uri);
    let redirect_uris: Vec<String> = request["redirect_uris"]
        .as_array()
        .map(|uris| {
            uris.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut inner = shared.lock();
    inner.counter += 1;
    let client_id = format!("client-{}", inner.counter);
    inner
        .clients
        .insert(client_id.clone(), redirect_uris.clone());
    (
        StatusCode::CREATED,
        Json(json!({
            "client_id": client_id,
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": request["client_name"],
        })),
    )
        .into_response()
}

async fn authorize(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    record(&shared, &method, &uri);
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let client_id = field("client_id");
    let redirect_uri = field("redirect_uri");
    let state = field("state");
    let mut inner = shared.lock();
    let registered = inner
        .clients
        .get(&client_id)
        .is_some_and(|uris| uris.contains(&redirect_uri))
        || client_id == "preregistered";
    if !registered || field("code_challenge_method") != "S256" || field("response_type") != "code" {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let mut location = url::Url::parse(&redirect_uri).expect("a redirect URI");
    match inner.behaviour.authorize {
        Authorize::Deny => {
            location
                .query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair("error_description", "The user said no")
                .append_pair("state", &state);
        }
        mode @ (Authorize::Approve | Authorize::WrongState) => {
            let code = inner.fresh("code-");
            inner.codes.insert(
                code.clone(),
                PendingCode {
                    client_id,
                    redirect_uri: redirect_uri.clone(),
                    challenge: field("code_challenge"),
                },
            );
            let state = if mode == Authorize::WrongState {
                format!("{state}-tampered")
            } else {
                state
            };
            location
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &state)
                .append_pair("iss", &shared.issuer);
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(location.as_str()).expect("a header value"),
    );
    response
}

fn token_error(inner: &mut Inner, grant: &str, error: &str) -> Response {
    inner.token_errors.push(format!("{grant}: {error}"));
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": format!("{grant} refused")})),
    )
        .into_response()
}

fn issue(inner: &mut Inner) -> Response {
    let access = inner.fresh("at-");
    let refresh = inner.fresh("rt-");
    let expires_in = inner.behaviour.expires_in;
    inner.access.insert(
        access.clone(),
        Instant::now() + Duration::from_secs(expires_in),
    );
    inner.refresh.push(refresh.clone());
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh,
        "scope": "mcp",
    }))
    .into_response()
}

async fn token(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record(&shared, &method, &uri);
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let grant = field("grant_type");
    let delay = {
        let mut inner = shared.lock();
        inner.grants.push(grant.clone());
        inner.behaviour.refresh_delay
    };
    match grant.as_str() {
        "authorization_code" => {
            let mut inner = shared.lock();
            let verifier = field("code_verifier");
            if !verifier.is_empty() {
                inner.secrets.push(verifier.clone());
            }
            let Some(pending) = inner.codes.remove(&field("code")) else {
                return token_error(&mut inner, &grant, "invalid_grant");
            };
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if challenge != pending.challenge
                || pending.redirect_uri != field("redirect_uri")
                || (pending.client_id != field("client_id") && pending.client_id != "preregistered")
            {
                return token_error(&mut inner, &grant, "invalid_grant");
            }
            issue(&mut inner)
        }
        "refresh_token" => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut inner = shared.lock();
            let given = field("refresh_token");
            let Some(at) = inner.refresh.iter().position(|r| *r == given) else {
                return token_error(&mut inner, &grant, "invalid_grant");
            };
            // Refresh tokens rotate: the one used is spent.
            inner.refresh.remove(at);
            issue(&mut inner)
        }
        _ => {
            let mut inner = shared.lock();
            token_error(&mut inner, &grant, "unsupported_grant_type")
        }
    }
}

fn unauthorized(shared: &Shared, given: bool) -> Response {
    unauthorized_at(shared, given, "mcp")
}

/// A 401 naming the protected-resource metadata of the endpoint at `/{resource}`.
fn unauthorized_at(shared: &Shared, given: bool, resource: &str) -> Response {
    let mut challenge = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/{resource}\", scope=\"mcp\"",
        shared.resource_origin
    );
    if given {
        challenge.push_str(", error=\"invalid_token\"");
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "unauthorized"})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("a header value"),
    );
    response
}

async fn mcp(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(message): Json<Value>,
) -> Response {
    record(&shared, &method, &uri);
    match bearer(&headers) {
        Some(token) if shared.valid(&token) => {}
        given => return unauthorized(&shared, given.is_some()),
    }
    match answer(&shared, &message) {
        Some(answer) => Json(answer).into_response(),
        // A notification.
        None => StatusCode::ACCEPTED.into_response(),
    }
}

/// `GET /sse` (legacy HTTP+SSE): with a good token, the `endpoint` event, then every answer.
async fn sse_stream(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&shared, &method, &uri);
    match bearer(&headers) {
        Some(token) if shared.valid(&token) => {}
        given => return unauthorized_at(&shared, given.is_some(), "sse"),
    }
    let answers = shared.sse.subscribe();
    let endpoint = futures::stream::once(async {
        Ok::<_, std::convert::Infallible>("event: endpoint\ndata: /messages\n\n".to_owned())
    });
    let messages = futures::stream::unfold(answers, |mut answers| async move {
        loop {
            match answers.recv().await {
                Ok(text) => {
                    return Some((Ok(format!("event: message\ndata: {text}\n\n")), answers));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let body = axum::body::Body::from_stream(futures::StreamExt::chain(endpoint, messages));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// `POST /messages`: the answer goes out on the SSE stream.
async fn sse_message(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(message): Json<Value>,
) -> Response {
    record(&shared, &method, &uri);
    match bearer(&headers) {
        Some(token) if shared.valid(&token) => {}
        given => return unauthorized_at(&shared, given.is_some(), "sse"),
    }
    if let Some(answer) = answer(&shared, &message) {
        let _ = shared.sse.send(answer.to_string());
    }
    StatusCode::ACCEPTED.into_response()
}

/// The JSON-RPC answer to `message`, `None` for a notification.
fn answer(shared: &Shared, message: &Value) -> Option<Value> {
    let id = message.get("id").cloned()?;
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "oauth-test", "version": "1.0.0"},
        }),
        "ping" => json!({}),
        "tools/list" => json!({
            "tools": [{
                "name": "whoami",
                "description": "Says who is signed in",
                "inputSchema": {"type": "object"},
            }],
        }),
        "tools/call" => {
            shared.lock().calls += 1;
            json!({"content": [{"type": "text", "text": "signed in as tester"}], "isError": false})
        }
        other => {
            return Some(json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {"code": -32601, "message": format!("no method {other}")},
            }));
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}
