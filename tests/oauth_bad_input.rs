//! OAuth sign-ins that go wrong, against our own loopback authorization server
//! (`support/oauth_server.rs`), mostly through the binary (`mcpomni auth srv` with a fake
//! browser first on PATH, `mcpomni call`): a refusal in the browser, a redirect with another
//! state, authorization-server metadata that answers 500, is not JSON or names another
//! issuer, endpoints on plain http away from loopback (refused before any request to them,
//! registration included), protected-resource metadata for another resource, a busy
//! callback port, and token files that are corrupt or readable by others. Through the
//! library: a browser that never comes back. Every error names the server and the step,
//! nothing hangs (each run is bounded), nothing is kept, and no code, verifier or token
//! reaches stdout, stderr or the log file.

#[path = "support/oauth_home.rs"]
mod oauth_home;
#[path = "support/oauth_server.rs"]
mod oauth_server;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcpomni::auth::browser::BrowserStep;
use mcpomni::auth::store::TokenStorage;
use mcpomni::auth::{AuthOptions, ServerAuth};
use oauth_home::{Home, stderr, stdout};
use oauth_server::{Authorize, Behaviour, Metadata, OAuthServer, ResourceMetadata, leaked};
use serde_json::json;

/// Nothing the server handed out in the outputs of `runs` or in the log file.
fn assert_nothing_leaked(server: &OAuthServer, home: &Home, runs: &[&Output]) {
    for run in runs {
        for (surface, text) in [("stdout", stdout(run)), ("stderr", stderr(run))] {
            let found = leaked(server, &text);
            assert!(found.is_empty(), "{found:?} on {surface}:\n{text}");
        }
    }
    let logs = home.logs();
    let found = leaked(server, &logs);
    assert!(found.is_empty(), "{found:?} in the log");
}

/// `mcpomni auth srv` against a server behaving as `behaviour`: fails with exit 1, keeps
/// nothing, and names the server and `step` on stderr (returned, with the server and home).
async fn failed_sign_in(behaviour: Behaviour, step: &str) -> (String, OAuthServer, Home) {
    let server = OAuthServer::start(behaviour).await;
    let home = Home::new(&server.url(), json!({}));
    let output = home.run(&["auth", "srv"]).await;
    let text = stderr(&output);
    println!("{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("server `srv`"), "{text}");
    assert!(text.contains(step), "wanted step {step}: {text}");
    assert!(home.token_files().is_empty(), "nothing is kept: {text}");
    assert_eq!(server.grant_count("authorization_code"), 0, "{text}");
    support::assert_no_type_path(text.lines().last().unwrap_or_default());
    assert_nothing_leaked(&server, &home, &[&output]);
    (text, server, home)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_in_the_browser_is_reported_and_nothing_is_kept() {
    let (text, server, home) = failed_sign_in(
        Behaviour {
            authorize: Authorize::Deny,
            ..Behaviour::default()
        },
        "authorization",
    )
    .await;
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("The user said no"), "{text}");
    assert_eq!(home.browser_opened(), 1);
    assert!(server.grants().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_with_another_state_is_refused_and_nothing_is_kept() {
    let (text, server, home) = failed_sign_in(
        Behaviour {
            authorize: Authorize::WrongState,
            ..Behaviour::default()
        },
        "authorization",
    )
    .await;
    assert!(
        text.contains("another state than this sign-in sent"),
        "{text}"
    );
    assert_eq!(home.browser_opened(), 1);
    // The code was never exchanged.
    assert!(server.grants().is_empty(), "{:?}", server.grants());
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_authorization_server_metadata_is_reported_at_discovery() {
    for (metadata, why) in [
        (Metadata::Status500, "discovery failed for"),
        (Metadata::Malformed, "none published usable metadata"),
        (Metadata::WrongIssuer, "issuer mismatch"),
    ] {
        let (text, server, home) = failed_sign_in(
            Behaviour {
                metadata: metadata.clone(),
                ..Behaviour::default()
            },
            "discovery",
        )
        .await;
        assert_eq!(home.browser_opened(), 0, "{metadata:?}: {text}");
        assert_eq!(
            server.requests_to("POST /register"),
            0,
            "{metadata:?}: {text}"
        );
        assert_eq!(
            server.requests_to("GET /authorize"),
            0,
            "{metadata:?}: {text}"
        );
        assert!(text.contains(why), "{metadata:?}: {text}");
        assert!(!text.contains("the database is on fire"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_endpoints_away_from_loopback_are_refused_before_any_request() {
    for (metadata, endpoint) in [
        (
            Metadata::PlainHttpAuthorize,
            "http://example.invalid/authorize",
        ),
        (Metadata::PlainHttpToken, "http://example.invalid/token"),
    ] {
        let (text, server, home) = failed_sign_in(
            Behaviour {
                metadata: metadata.clone(),
                ..Behaviour::default()
            },
            "discovery",
        )
        .await;
        assert!(text.contains(endpoint), "{metadata:?}: {text}");
        assert!(text.contains("plain http"), "{metadata:?}: {text}");
        // Refused before registering, and the browser was never sent there.
        assert_eq!(
            server.requests_to("POST /register"),
            0,
            "{metadata:?}: {text}"
        );
        assert_eq!(home.browser_opened(), 0, "{metadata:?}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_resource_metadata_for_another_resource_is_refused() {
    let (text, server, home) = failed_sign_in(
        Behaviour {
            resource_metadata: ResourceMetadata::WrongResource,
            ..Behaviour::default()
        },
        "discovery",
    )
    .await;
    assert_eq!(home.browser_opened(), 0, "{text}");
    assert_eq!(server.requests_to("POST /register"), 0, "{text}");
}

/// RFC 8414 §3: an issuer with a path publishes its metadata at the path-aware well-known
/// URLs; the origin's root document belongs to another issuer and is never even asked for.
#[tokio::test(flavor = "multi_thread")]
async fn the_root_metadata_is_never_asked_for_an_issuer_with_a_path() {
    let (text, server, home) = failed_sign_in(
        Behaviour {
            resource_metadata: ResourceMetadata::PathIssuer,
            ..Behaviour::default()
        },
        "discovery",
    )
    .await;
    let journal = server.journal();
    assert!(
        journal
            .iter()
            .any(|line| line == "GET /.well-known/oauth-authorization-server/tenant"),
        "the path-aware URL is tried: {journal:?}"
    );
    for root in [
        "GET /.well-known/oauth-authorization-server",
        "GET /.well-known/openid-configuration",
    ] {
        assert!(
            !journal.iter().any(|line| line == root),
            "{root} was requested: {journal:?}"
        );
    }
    assert_eq!(home.browser_opened(), 0, "{text}");
    assert_eq!(server.requests_to("POST /register"), 0, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_callback_port_is_named_before_anything_is_asked() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let server = OAuthServer::start(Behaviour::default()).await;
    let home = Home::new(&server.url(), json!({"redirect_port": port}));
    let output = home.run(&["auth", "srv"]).await;
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("server `srv`: callback listener"), "{text}");
    assert!(
        text.contains(&format!(
            "port {port} (auth.redirect_port) is already in use"
        )),
        "{text}"
    );
    assert!(server.journal().is_empty(), "{:?}", server.journal());
    assert_eq!(home.browser_opened(), 0);
    drop(busy);
}

/// Signs in through the binary, then spoils the token file with `spoil`, then runs
/// `mcpomni call srv whoami`: it fails naming the file, never showing its contents.
async fn call_with_spoiled_token_file(spoil: impl FnOnce(&std::path::Path)) -> String {
    let server = OAuthServer::start(Behaviour::default()).await;
    let home = Home::new(&server.url(), json!({}));
    let auth = home.run(&["auth", "srv"]).await;
    assert!(auth.status.success(), "{}", stderr(&auth));
    let file = home.token_file();
    spoil(&file);
    let call = home.run(&["call", "srv", "whoami"]).await;
    let text = stderr(&call);
    println!("{text}");
    assert_eq!(call.status.code(), Some(1), "{text}");
    assert!(text.contains("srv"), "{text}");
    assert!(text.contains("token store"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(stdout(&call).is_empty(), "{}", stdout(&call));
    assert_eq!(server.calls(), 0);
    // Not signed in again, not refreshed.
    assert_eq!(server.grants(), ["authorization_code"]);
    assert_nothing_leaked(&server, &home, &[&auth, &call]);
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_file_readable_by_others_is_not_used_and_is_named() {
    let text = call_with_spoiled_token_file(|file| {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    })
    .await;
    assert!(text.contains("readable by others (mode 0644)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_token_file_is_named_without_its_contents() {
    let text = call_with_spoiled_token_file(|file| {
        // Cut in the middle: the tokens are still in it, the JSON is not whole.
        let content = std::fs::read(file).expect("read");
        std::fs::write(file, &content[..content.len() - 20]).expect("write");
    })
    .await;
    assert!(text.contains("not a token file"), "{text}");
}

/// A person at a browser: fetches the authorization URL, follows the redirects back to the
/// loopback callback. Counts how often it was asked.
fn browser(opened: Arc<AtomicUsize>, follow: bool, wait: Duration) -> BrowserStep {
    BrowserStep::Loopback {
        announce: Arc::new(move |_server, url| {
            opened.fetch_add(1, Ordering::SeqCst);
            if follow {
                let url = url.to_owned();
                tokio::spawn(async move {
                    let _ = reqwest::Client::new().get(url).send().await;
                });
            }
        }),
        open_browser: false,
        wait,
    }
}

fn library_auth(server: &OAuthServer, tokens: &std::path::Path) -> ServerAuth {
    mcpomni::install_crypto_provider();
    let options = AuthOptions {
        tokens: TokenStorage::Files(tokens.to_owned()),
        sign_in_on_demand: None,
    };
    ServerAuth::new("srv", &server.url(), None, &options)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_library_signs_in_through_a_browser_that_follows_the_redirect() {
    let server = OAuthServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = library_auth(&server, dir.path());
    let opened = Arc::new(AtomicUsize::new(0));
    let step = browser(opened.clone(), true, Duration::from_secs(5));
    tokio::time::timeout(Duration::from_secs(10), auth.sign_in(&step))
        .await
        .expect("the sign-in ends")
        .expect("the sign-in works");
    assert_eq!(opened.load(Ordering::SeqCst), 1);
    let token = auth.token().await.expect("a token").expect("some token");
    assert!(server.secrets().contains(&token));
    assert_eq!(server.grants(), ["authorization_code"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_that_never_comes_back_times_out_naming_server_and_step() {
    let server = OAuthServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = library_auth(&server, dir.path());
    let opened = Arc::new(AtomicUsize::new(0));
    let step = browser(opened.clone(), false, Duration::from_millis(300));
    let failure = tokio::time::timeout(Duration::from_secs(10), auth.sign_in(&step))
        .await
        .expect("the sign-in ends")
        .expect_err("nobody came back");
    assert_eq!(failure.server, "srv");
    assert_eq!(failure.step, "browser sign-in");
    assert!(
        failure
            .to_string()
            .contains("no answer from the browser within"),
        "{failure}"
    );
    assert_eq!(opened.load(Ordering::SeqCst), 1);
    assert!(server.grants().is_empty());
    assert!(
        std::fs::read_dir(dir.path())
            .map(|entries| entries
                .filter_map(Result::ok)
                .all(|e| e.path().extension().is_none_or(|x| x != "json")))
            .unwrap_or(true),
        "no token file"
    );
    assert!(auth.token().await.expect("no failure").is_none());
}
