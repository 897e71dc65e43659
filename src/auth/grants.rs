//! The grants that need no browser: client credentials (RFC 6749 §4.4, with a client secret
//! or a `private_key_jwt` assertion) and cross-app access (an enterprise ID token exchanged
//! for an ID-JAG at the identity provider, then for an access token by the JWT-bearer grant —
//! RFC 8693 and RFC 7523, through rmcp's enterprise module). Both end with credentials saved
//! in the server's token store, like a browser sign-in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth2::ClientSecret;
use rmcp::transport::auth::enterprise::{
    EmaAuthorizationServer, EmaClientAuthentication, EmaExchangeRequest,
};
use rmcp::transport::auth::{
    AuthorizationMetadata, CredentialStore, OAuthTokenResponse, StoredCredentials,
    default_oauth_http_client,
};

use super::{AuthFailure, ServerAuth};
use crate::config::OAuthConfig;

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest token response read.
const MAX_TOKEN_RESPONSE: usize = 256 * 1024;

pub(super) fn now_epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// What the token endpoint accepts, per its metadata (absent: `client_secret_basic`).
fn accepts(metadata: &AuthorizationMetadata, method: &str) -> bool {
    match metadata
        .additional_fields
        .get("token_endpoint_auth_methods_supported")
        .and_then(|methods| methods.as_array())
    {
        Some(methods) => methods.iter().any(|m| m.as_str() == Some(method)),
        None => method == "client_secret_basic",
    }
}

/// The audience of a client assertion: the authorization server's issuer (its token
/// endpoint when it names none).
fn audience(metadata: &AuthorizationMetadata) -> String {
    metadata
        .issuer
        .clone()
        .unwrap_or_else(|| metadata.token_endpoint.clone())
}

impl ServerAuth {
    /// Client credentials: one token request, the client authenticating as configured.
    pub(super) async fn client_credentials(
        &self,
        metadata: &AuthorizationMetadata,
        scopes: &[String],
    ) -> Result<StoredCredentials, AuthFailure> {
        let step = "client credentials";
        let config = &self.config;
        let client_id = config
            .client_id
            .clone()
            .ok_or_else(|| self.failure(step, "no client_id configured"))?;
        let mut form = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("resource".to_owned(), self.resource()),
        ];
        if !scopes.is_empty() {
            form.push(("scope".to_owned(), scopes.join(" ")));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| self.failure(step, e.to_string()))?;
        let mut request = client.post(&metadata.token_endpoint);
        match (&config.private_key, &config.client_secret) {
            (Some(key), _) => {
                let algorithm = config.signing_algorithm.as_deref().unwrap_or("ES256");
                let assertion = super::jwt::client_assertion(
                    key,
                    algorithm,
                    &client_id,
                    &audience(metadata),
                    now_epoch_seconds(),
                )
                .map_err(|e| self.failure(step, format!("private_key: {e}")))?;
                form.push(("client_id".to_owned(), client_id.clone()));
                form.push((
                    "client_assertion_type".to_owned(),
                    CLIENT_ASSERTION_TYPE.to_owned(),
                ));
                form.push(("client_assertion".to_owned(), assertion));
            }
            (None, Some(secret))
                if !accepts(metadata, "client_secret_basic")
                    && accepts(metadata, "client_secret_post") =>
            {
                form.push(("client_id".to_owned(), client_id.clone()));
                form.push(("client_secret".to_owned(), secret.clone()));
            }
            (None, Some(secret)) => {
                request = request.basic_auth(form_encode(&client_id), Some(form_encode(secret)));
            }
            (None, None) => form.push(("client_id".to_owned(), client_id.clone())),
        }
        let body = form_body(&form);
        let response = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.failure(step, format!("the token endpoint: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.failure(step, e.to_string()))?;
        if bytes.len() > MAX_TOKEN_RESPONSE {
            return Err(self.failure(step, "the token response is too large".to_owned()));
        }
        if !status.is_success() {
            return Err(self.failure(step, token_error(status.as_u16(), &bytes)));
        }
        let token: OAuthTokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            self.failure(
                step,
                format!("the token endpoint's answer is not a token ({e})"),
            )
        })?;
        Ok(StoredCredentials::new(
            client_id,
            Some(token),
            scopes.to_vec(),
            Some(now_epoch_seconds()),
        )
        .with_issuer(metadata.issuer.clone()))
    }

    /// Cross-app access: ID token → ID-JAG at the identity provider → access token here.
    pub(super) async fn cross_app(
        &self,
        metadata: &AuthorizationMetadata,
        scopes: &[String],
    ) -> Result<StoredCredentials, AuthFailure> {
        let step = "cross-app token exchange";
        let config: &OAuthConfig = &self.config;
        let cross = config
            .cross_app
            .as_ref()
            .ok_or_else(|| self.failure(step, "no identity provider configured"))?;
        let client_id = config
            .client_id
            .clone()
            .ok_or_else(|| self.failure(step, "no client_id configured"))?;
        let authentication = |secret: &Option<String>| match secret {
            Some(secret) => {
                EmaClientAuthentication::ClientSecretBasic(ClientSecret::new(secret.clone()))
            }
            None => EmaClientAuthentication::None,
        };
        let idp = EmaAuthorizationServer::new(
            cross.idp_issuer.clone(),
            cross.idp_token_endpoint.clone(),
            cross.idp_client_id.clone(),
        )
        .with_client_authentication(authentication(&cross.idp_client_secret));
        let resource_server = EmaAuthorizationServer::new(
            audience(metadata),
            metadata.token_endpoint.clone(),
            client_id.clone(),
        )
        .with_client_authentication(authentication(&config.client_secret));
        let http = default_oauth_http_client().map_err(|e| self.failure(step, e.to_string()))?;
        let resource = self.resource();
        let token =
            EmaExchangeRequest::new_with_id_token(idp, resource_server, &resource, &cross.id_token)
                .with_scopes(scopes.iter().cloned())
                .exchange(&http, &http)
                .await
                .map_err(|e| self.failure(step, e.to_string()))?;
        // rmcp's token type is built the way it is read: from the token endpoint's JSON.
        let mut json = serde_json::json!({
            "access_token": token.access_token.secret(),
            "token_type": "Bearer",
        });
        if let Some(expires_in) = token.expires_in {
            json["expires_in"] = expires_in.as_secs().into();
        }
        let response: OAuthTokenResponse = serde_json::from_value(json)
            .map_err(|e| self.failure(step, format!("the access token: {e}")))?;
        let granted: Vec<String> = token.scopes.into_iter().collect();
        Ok(StoredCredentials::new(
            client_id,
            Some(response),
            granted,
            Some(now_epoch_seconds()),
        )
        .with_issuer(metadata.issuer.clone()))
    }

    /// Saves credentials a grant produced.
    pub(super) async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthFailure> {
        self.tokens
            .save(credentials)
            .await
            .map_err(|e| self.failure("token store", e.to_string()))
    }
}

/// `application/x-www-form-urlencoded` for a Basic credential (RFC 6749 §2.3.1).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn form_body(pairs: &[(String, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// The OAuth error of a refused token request (RFC 6749 §5.2), in a line.
fn token_error(status: u16, body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(crate::text::sanitize_line)
    };
    match (field("error"), field("error_description")) {
        (Some(error), Some(description)) => {
            format!("the token endpoint answered HTTP {status} {error}: {description}")
        }
        (Some(error), None) => format!("the token endpoint answered HTTP {status} {error}"),
        _ => format!("the token endpoint answered HTTP {status}"),
    }
}
