//! The HTTP client behind every OAuth request of one server (discovery, registration, token
//! requests), where rmcp's own does not do what we need:
//!
//! - **Addresses.** Names resolve through a filter: a loopback or private address only when
//!   the MCP server's own URL names one of the same class; link-local (cloud instance
//!   metadata), unspecified, multicast and other reserved addresses never. IP-literal hosts
//!   and redirects are checked the same way.
//! - **No root metadata for an issuer with a path.** rmcp tries the issuer's path-aware
//!   well-known URLs and then the origin's root one. Once protected-resource metadata has
//!   named an issuer with a path, the root documents of its origin are answered 404 here
//!   without a request (RFC 8414 §3: that document belongs to another issuer).
//! - **No credential over plain http.** Registrations and token requests (a refresh too,
//!   whose endpoint rmcp re-discovers in later runs) go only to https or to a loopback host.
//! - **A client secret from dynamic registration is kept.** rmcp registers as a public
//!   client, but an authorization server may hand back a secret it then requires; the secret
//!   is noted so the token store can keep it for refreshes in later runs.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use rmcp::transport::auth::{
    OAuthHttpClient, OAuthHttpClientError, OAuthHttpClientFuture, OAuthHttpRedirectPolicy,
    OAuthHttpRequest,
};
use url::Url;

/// rmcp's own limits for OAuth requests.
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_REDIRECTS: usize = 10;
const ROOT_METADATA: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// https, or plain http to a loopback host (where nothing crosses a network).
fn secure_enough(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(v4)) => v4.is_loopback(),
            Some(url::Host::Ipv6(v6)) => v6.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// What an address may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    Blocked,
}

fn class_of(addr: IpAddr) -> Class {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Class::Loopback
            } else if v4.is_private() || (a == 100 && (64..=127).contains(&b)) {
                Class::Private
            } else if v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
            {
                Class::Blocked
            } else {
                Class::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Class::Loopback
            } else if (first & 0xfe00) == 0xfc00 {
                Class::Private
            } else if v6.is_unspecified() || v6.is_multicast() || (first & 0xffc0) == 0xfe80 {
                Class::Blocked
            } else {
                Class::Public
            }
        }
    }
}

/// Which address classes the server's own URL opens up.
#[derive(Debug, Clone, Copy)]
struct Policy {
    loopback: bool,
    private: bool,
}

impl Policy {
    fn for_server(url: &Url) -> Self {
        let class = match url.host() {
            Some(url::Host::Ipv4(v4)) => class_of(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => class_of(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
                Class::Loopback
            }
            _ => Class::Public,
        };
        Self {
            loopback: class == Class::Loopback,
            private: class == Class::Private,
        }
    }

    fn allows(self, addr: IpAddr) -> bool {
        match class_of(addr) {
            Class::Public => true,
            Class::Loopback => self.loopback,
            Class::Private => self.private,
            Class::Blocked => false,
        }
    }

    /// For a URL whose host is an IP literal; names are checked when they resolve.
    fn allows_url(self, url: &Url) -> bool {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.allows(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.allows(IpAddr::V6(v6)),
            _ => true,
        }
    }
}

/// Resolves with the system resolver and keeps only the addresses the policy allows.
struct FilteringResolver(Policy);

impl reqwest::dns::Resolve for FilteringResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| policy.allows(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    format!("{host} resolves to no address an OAuth request may go to").into(),
                );
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What the client learnt on the way.
#[derive(Default)]
struct Learnt {
    /// Origins of issuers with a path, named by protected-resource metadata.
    path_issuer_origins: Vec<url::Origin>,
    /// A client secret dynamic registration handed back.
    registered_secret: Option<(String, String)>,
}

/// One server's OAuth HTTP client (cheap to clone; shared with rmcp's manager).
#[derive(Clone)]
pub struct GuardedHttp {
    follow: reqwest::Client,
    stop: reqwest::Client,
    policy: Policy,
    learnt: Arc<Mutex<Learnt>>,
}

impl GuardedHttp {
    pub fn for_server(server_url: &str) -> Result<Self, String> {
        let url = Url::parse(server_url).map_err(|e| e.to_string())?;
        let policy = Policy::for_server(&url);
        let build = |redirect: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(redirect)
                .dns_resolver(Arc::new(FilteringResolver(policy)))
                .build()
                .map_err(|e| e.to_string())
        };
        let follow = reqwest::redirect::Policy::custom(move |attempt| {
            if !policy.allows_url(attempt.url()) {
                attempt.error("a redirect to an address OAuth requests may not go to")
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        Ok(Self {
            follow: build(follow)?,
            stop: build(reqwest::redirect::Policy::none())?,
            policy,
            learnt: Arc::default(),
        })
    }

    fn learnt(&self) -> std::sync::MutexGuard<'_, Learnt> {
        self.learnt.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `(client_id, client_secret)` that dynamic registration handed back, if any.
    pub fn registered_secret(&self) -> Option<(String, String)> {
        self.learnt().registered_secret.clone()
    }

    /// A root metadata document of an origin whose issuer has a path: not fetched.
    fn skips(&self, url: &Url) -> bool {
        ROOT_METADATA.contains(&url.path())
            && self
                .learnt()
                .path_issuer_origins
                .iter()
                .any(|origin| *origin == url.origin())
    }

    /// Notes issuers with a path (from protected-resource metadata) and registered secrets.
    fn learn(&self, url: &Url, method: &reqwest::Method, body: &[u8]) {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        if url.path().contains("/.well-known/oauth-protected-resource") {
            let mut issuers: Vec<&str> = Vec::new();
            if let Some(list) = json["authorization_servers"].as_array() {
                issuers.extend(list.iter().filter_map(|v| v.as_str()));
            }
            issuers.extend(json["authorization_server"].as_str());
            let mut learnt = self.learnt();
            for issuer in issuers.iter().filter_map(|i| Url::parse(i).ok()) {
                let has_path = !issuer.path().trim_matches('/').is_empty();
                if has_path && !learnt.path_issuer_origins.contains(&issuer.origin()) {
                    learnt.path_issuer_origins.push(issuer.origin());
                }
            }
        } else if method == reqwest::Method::POST
            && let (Some(id), Some(secret)) =
                (json["client_id"].as_str(), json["client_secret"].as_str())
            && json.get("redirect_uris").is_some()
        {
            self.learnt().registered_secret = Some((id.to_owned(), secret.to_owned()));
        }
    }

    async fn execute_request(
        &self,
        request: OAuthHttpRequest,
    ) -> Result<oauth2::HttpResponse, OAuthHttpClientError> {
        let redirect = request.redirect_policy;
        let request = reqwest::Request::try_from(request.request)?;
        let url = request.url().clone();
        let method = request.method().clone();
        if !self.policy.allows_url(&url) {
            return Err(
                format!("OAuth request to {url} refused: not an address it may go to").into(),
            );
        }
        if method == reqwest::Method::POST && !secure_enough(&url) {
            return Err(format!(
                "OAuth request to {} refused: plain http to a host that is not loopback",
                crate::redact::display_url(url.as_str())
            )
            .into());
        }
        if method == reqwest::Method::GET && self.skips(&url) {
            return Ok(oauth2::http::Response::builder()
                .status(404)
                .body(Vec::new())?);
        }
        let client = match redirect {
            OAuthHttpRedirectPolicy::Stop => &self.stop,
            _ => &self.follow,
        };
        let response = client.execute(request).await?;
        let mut builder = oauth2::http::Response::builder()
            .status(response.status())
            .version(response.version());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err("an OAuth answer larger than 1 MiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        self.learn(&url, &method, &body);
        Ok(builder.body(body)?)
    }
}

impl OAuthHttpClient for GuardedHttp {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        let future: Pin<Box<dyn Future<Output = _> + Send + '_>> =
            Box::pin(self.execute_request(request));
        future
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_servers_own_class() {
        let public = Policy::for_server(&Url::parse("https://mcp.example.com/mcp").unwrap());
        assert!(public.allows("93.184.216.34".parse().unwrap()));
        assert!(!public.allows("127.0.0.1".parse().unwrap()));
        assert!(!public.allows("10.0.0.9".parse().unwrap()));
        assert!(!public.allows("169.254.169.254".parse().unwrap()));
        let local = Policy::for_server(&Url::parse("http://localhost:3000/mcp").unwrap());
        assert!(local.allows("127.0.0.1".parse().unwrap()));
        assert!(local.allows("::1".parse().unwrap()));
        assert!(!local.allows("169.254.169.254".parse().unwrap()));
        assert!(!local.allows("10.0.0.9".parse().unwrap()));
        let private = Policy::for_server(&Url::parse("http://10.1.2.3/mcp").unwrap());
        assert!(private.allows("10.0.0.9".parse().unwrap()));
        assert!(!private.allows("127.0.0.1".parse().unwrap()));
        assert!(!private.allows("0.0.0.0".parse().unwrap()));
    }

    #[test]
    fn the_root_metadata_of_a_path_issuers_origin_is_not_fetched() {
        crate::install_crypto_provider();
        let http = GuardedHttp::for_server("http://127.0.0.1:1/mcp").unwrap();
        let prm =
            Url::parse("http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp").unwrap();
        http.learn(
            &prm,
            &reqwest::Method::GET,
            br#"{"resource": "http://127.0.0.1:1/mcp", "authorization_servers": ["http://127.0.0.1:2/tenant1"]}"#,
        );
        let root = Url::parse("http://127.0.0.1:2/.well-known/oauth-authorization-server").unwrap();
        let oidc_root = Url::parse("http://127.0.0.1:2/.well-known/openid-configuration").unwrap();
        let path_aware =
            Url::parse("http://127.0.0.1:2/.well-known/oauth-authorization-server/tenant1")
                .unwrap();
        let other_origin =
            Url::parse("http://127.0.0.1:3/.well-known/oauth-authorization-server").unwrap();
        assert!(http.skips(&root));
        assert!(http.skips(&oidc_root));
        assert!(!http.skips(&path_aware));
        assert!(!http.skips(&other_origin));
    }

    #[test]
    fn credentials_go_only_over_https_or_to_loopback() {
        for (url, ok) in [
            ("https://as.example.com/token", true),
            ("http://127.0.0.1:9/token", true),
            ("http://[::1]:9/token", true),
            ("http://localhost:9/token", true),
            ("http://as.example.com/token", false),
            ("http://10.0.0.9/token", false),
            ("ftp://as.example.com/token", false),
        ] {
            assert_eq!(secure_enough(&Url::parse(url).unwrap()), ok, "{url}");
        }
    }

    #[test]
    fn a_secret_from_registration_is_noted() {
        crate::install_crypto_provider();
        let http = GuardedHttp::for_server("http://127.0.0.1:1/mcp").unwrap();
        let register = Url::parse("http://127.0.0.1:2/register").unwrap();
        http.learn(
            &register,
            &reqwest::Method::POST,
            br#"{"client_id": "c1", "client_secret": "s1", "redirect_uris": ["http://127.0.0.1:9/callback"]}"#,
        );
        assert_eq!(
            http.registered_secret(),
            Some(("c1".to_owned(), "s1".to_owned()))
        );
    }
}
