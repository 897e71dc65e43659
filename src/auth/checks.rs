//! Checks on what discovery found, made before any request goes to it. rmcp takes the
//! authorization server's endpoints as published; a document that sends the browser, the
//! registration or the token exchange over plain http to a host that is not this machine
//! would expose the code, the tokens and any client secret on the way, so it is refused
//! here (RFC 8252 §8.3 allows plain http for loopback redirects only; OAuth 2.1 wants TLS
//! for every other endpoint). Called by [`super::ServerAuth`] right after discovery. And a
//! redirect whose `state` is not the one this sign-in sent is refused with words a person
//! understands, before its code goes anywhere.

use std::net::IpAddr;

use rmcp::transport::auth::AuthorizationMetadata;

use super::AuthFailure;

/// The step named in failures.
const STEP: &str = "discovery";

/// Refuses metadata whose authorization, token or registration endpoint is not https,
/// or plain http on a loopback host.
pub(crate) fn endpoints(server: &str, metadata: &AuthorizationMetadata) -> Result<(), AuthFailure> {
    let named = [
        (
            "authorization_endpoint",
            Some(&metadata.authorization_endpoint),
        ),
        ("token_endpoint", Some(&metadata.token_endpoint)),
        (
            "registration_endpoint",
            metadata.registration_endpoint.as_ref(),
        ),
    ];
    for (field, value) in named {
        if let Some(value) = value {
            endpoint(server, field, value)?;
        }
    }
    Ok(())
}

fn endpoint(server: &str, field: &str, value: &str) -> Result<(), AuthFailure> {
    let shown = crate::text::sanitize_line(&crate::redact::display_url(value));
    let refuse = |why: String| {
        Err(AuthFailure::new(
            server,
            STEP,
            format!("the authorization server's {field} {shown} {why}; refused"),
        ))
    };
    let url = match url::Url::parse(value) {
        Ok(url) => url,
        Err(error) => return refuse(format!("is not a URL ({error})")),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => refuse(
            "is plain http to a host that is not loopback (codes and tokens would cross the \
             network unencrypted)"
                .to_owned(),
        ),
        other => refuse(format!("has scheme `{other}`, not https")),
    }
}

/// Refuses a redirect whose `state` is not the one in the authorization URL we sent: a stale
/// tab, or someone else's code (CSRF).
pub(crate) fn callback_state(
    server: &str,
    authorization_url: &str,
    state: &str,
) -> Result<(), AuthFailure> {
    let sent = url::Url::parse(authorization_url).ok().and_then(|url| {
        url.query_pairs()
            .find(|(name, _)| name == "state")
            .map(|(_, value)| value.into_owned())
    });
    if sent.as_deref() == Some(state) {
        return Ok(());
    }
    Err(AuthFailure::new(
        server,
        "authorization",
        "the browser came back with another state than this sign-in sent (an old tab, or a \
         redirect that is not ours); refused, nothing was kept",
    ))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(authorize: &str, token: &str, register: Option<&str>) -> AuthorizationMetadata {
        let mut metadata = AuthorizationMetadata::default();
        metadata.authorization_endpoint = authorize.to_owned();
        metadata.token_endpoint = token.to_owned();
        metadata.registration_endpoint = register.map(str::to_owned);
        metadata
    }

    #[test]
    fn https_anywhere_and_plain_http_on_loopback_pass() {
        for (authorize, token) in [
            (
                "https://as.example.com/authorize",
                "https://as.example.com/token",
            ),
            ("http://127.0.0.1:9/authorize", "http://127.0.0.2:9/token"),
            ("http://[::1]:9/authorize", "http://localhost:9/token"),
        ] {
            let found = metadata(authorize, token, Some("http://localhost./register"));
            assert!(endpoints("gh", &found).is_ok(), "{authorize} {token}");
        }
    }

    #[test]
    fn plain_http_elsewhere_is_refused_by_field() {
        let cases = [
            (
                metadata("http://as.example.com/authorize", "https://a/token", None),
                "authorization_endpoint http://as.example.com/authorize",
            ),
            (
                metadata("https://a/authorize", "http://10.0.0.1/token", None),
                "token_endpoint http://10.0.0.1/token",
            ),
            (
                metadata(
                    "https://a/authorize",
                    "https://a/token",
                    Some("http://a/register"),
                ),
                "registration_endpoint http://a/register",
            ),
        ];
        for (found, named) in cases {
            let failure = endpoints("gh", &found).expect_err("refused");
            assert_eq!(failure.step, "discovery");
            let text = failure.to_string();
            assert!(text.starts_with("server `gh`: discovery: "), "{text}");
            assert!(text.contains(named), "{text}");
            assert!(text.contains("plain http"), "{text}");
        }
    }

    #[test]
    fn a_callback_must_bring_back_the_state_that_was_sent() {
        let url = "https://a/authorize?client_id=c&state=s1&code_challenge=x";
        assert!(callback_state("gh", url, "s1").is_ok());
        let failure = callback_state("gh", url, "s2").expect_err("refused");
        assert_eq!(failure.step, "authorization");
        assert!(failure.message.contains("another state"), "{failure}");
        assert!(callback_state("gh", "https://a/authorize", "s1").is_err());
    }

    #[test]
    fn other_schemes_and_non_urls_are_refused() {
        let failure = endpoints("gh", &metadata("javascript:alert(1)", "https://a/t", None))
            .expect_err("refused");
        assert!(failure.message.contains("scheme `javascript`"), "{failure}");
        let failure =
            endpoints("gh", &metadata("https://a/a", "not a url", None)).expect_err("refused");
        assert!(failure.message.contains("is not a URL"), "{failure}");
    }
}
