//! OAuth through the binary, as a person uses it, against our own loopback authorization
//! server (`support/oauth_server.rs`): `mcpomni auth srv` signs in through the browser (a fake
//! `xdg-open` first on PATH plays it) and keeps the tokens in a 0600 file in a 0700 directory
//! under `$XDG_DATA_HOME/mcpomni/tokens`; the next `mcpomni call` reuses them without a token
//! request, refreshes them before they expire instead of signing in again, and after the
//! refresh token was revoked says to run `mcpomni auth srv` (exit 1, no sign-in loop); two
//! processes refreshing at once make one refresh between them; `mcpomni logout srv` forgets
//! the tokens. No code, verifier or token the authorization server handed out or received
//! appears on stdout, stderr or in the log file.

#[path = "support/oauth_home.rs"]
mod oauth_home;
#[path = "support/oauth_server.rs"]
mod oauth_server;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use oauth_home::{Home, stderr, stdout};
use oauth_server::{Behaviour, OAuthServer, leaked};
use serde_json::{Value, json};

/// Signs in with `mcpomni auth srv`; panics unless it worked.
async fn sign_in(home: &Home, server: &OAuthServer) -> Output {
    let output = home.run(&["auth", "srv"]).await;
    assert!(
        output.status.success(),
        "auth: {}\n{}",
        stderr(&output),
        server.journal().join("\n")
    );
    output
}

/// Moves the kept token's receipt `seconds` into the past (as if that much time had passed).
fn age_token(home: &Home, seconds: u64) {
    let path = home.token_file();
    let mut on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    let received = &mut on_disk["credentials"]["token_received_at"];
    let at = received.as_u64().expect("a receipt time");
    *received = json!(at - seconds);
    // Written in place: the file keeps its mode.
    std::fs::write(&path, on_disk.to_string()).expect("write");
}

/// No secret of `server` in any output of `runs` or in the log file.
fn assert_nothing_leaked(server: &OAuthServer, home: &Home, runs: &[&Output]) {
    assert!(
        !server.secrets().is_empty(),
        "the server handed out secrets"
    );
    for run in runs {
        for (surface, text) in [("stdout", stdout(run)), ("stderr", stderr(run))] {
            let found = leaked(server, &text);
            assert!(found.is_empty(), "{found:?} on {surface}:\n{text}");
        }
    }
    let logs = home.logs();
    assert!(!logs.is_empty(), "the runs wrote a log");
    let found = leaked(server, &logs);
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| !leaked(server, line).is_empty())
        .collect();
    assert!(
        found.is_empty(),
        "{found:?} in the log:\n{}",
        lines.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_sign_in_keeps_private_tokens_that_the_next_runs_reuse() {
    let server = OAuthServer::start(Behaviour::default()).await;
    let home = Home::new(&server.url(), json!({}));

    let auth = sign_in(&home, &server).await;
    assert!(
        stderr(&auth).contains("signed in to `srv`"),
        "{}",
        stderr(&auth)
    );
    assert_eq!(home.browser_opened(), 1);
    assert_eq!(server.grants(), ["authorization_code"]);

    let file = home.token_file();
    assert!(file.starts_with(home.path().join("data/mcpomni/tokens")));
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    };
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&home.token_dir()), 0o700);
    let text = std::fs::read_to_string(&file).expect("read the token file");
    let on_disk: Value = serde_json::from_str(&text).expect("the token file is JSON, only JSON");
    assert_eq!(on_disk["server_url"], json!(server.url()));
    // Nothing else in the directory but the file and its lock.
    for entry in std::fs::read_dir(home.token_dir()).expect("list") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(name.ends_with(".json") || name.ends_with(".lock"), "{name}");
    }

    let first = home.run(&["call", "srv", "whoami"]).await;
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout(&first).trim(), "signed in as tester");
    let second = home.run(&["call", "srv", "whoami"]).await;
    assert!(second.status.success(), "{}", stderr(&second));
    // Both runs used the kept token: no token request, no browser.
    assert_eq!(server.grants(), ["authorization_code"]);
    assert_eq!(server.requests_to("GET /authorize"), 1);
    assert_eq!(home.browser_opened(), 1);
    assert_eq!(server.calls(), 2);

    assert_nothing_leaked(&server, &home, &[&auth, &first, &second]);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_forgets_the_tokens_and_the_next_call_says_to_sign_in() {
    let server = OAuthServer::start(Behaviour::default()).await;
    let home = Home::new(&server.url(), json!({}));
    let auth = sign_in(&home, &server).await;
    let logout = home.run(&["logout", "srv"]).await;
    assert!(logout.status.success(), "{}", stderr(&logout));
    assert!(
        stderr(&logout).contains("forgot the tokens of `srv`"),
        "{}",
        stderr(&logout)
    );
    assert!(home.token_files().is_empty(), "logout removes the file");
    let after = home.run(&["call", "srv", "whoami"]).await;
    assert_eq!(after.status.code(), Some(1), "{}", stderr(&after));
    assert!(
        stderr(&after).contains("mcpomni auth srv"),
        "{}",
        stderr(&after)
    );
    // Not a terminal: no sign-in started.
    assert_eq!(server.requests_to("GET /authorize"), 1);
    assert_eq!(home.browser_opened(), 1);
    assert_nothing_leaked(&server, &home, &[&auth, &logout, &after]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_about_to_expire_is_refreshed_instead_of_signing_in_again() {
    let server = OAuthServer::start(Behaviour {
        expires_in: 20,
        ..Behaviour::default()
    })
    .await;
    let home = Home::new(&server.url(), json!({}));
    let auth = sign_in(&home, &server).await;
    // 15 of its 20 seconds are gone: the authorization server still takes it, but it is
    // inside the refresh window (min(30 s, half its life)).
    age_token(&home, 15);

    let call = home.run(&["call", "srv", "whoami"]).await;
    assert!(call.status.success(), "{}", stderr(&call));
    assert_eq!(server.grants(), ["authorization_code", "refresh_token"]);
    assert_eq!(server.requests_to("GET /authorize"), 1);
    // The refreshed token is kept: the next run needs no token request.
    let again = home.run(&["call", "srv", "whoami"]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(server.grants(), ["authorization_code", "refresh_token"]);
    assert_eq!(home.browser_opened(), 1);
    assert_eq!(
        std::fs::metadata(home.token_file())
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "the refreshed file is private too"
    );

    assert_nothing_leaked(&server, &home, &[&auth, &call, &again]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_refresh_token_needs_a_sign_in_and_says_how_without_looping() {
    let server = OAuthServer::start(Behaviour {
        expires_in: 20,
        ..Behaviour::default()
    })
    .await;
    let home = Home::new(&server.url(), json!({}));
    let auth = sign_in(&home, &server).await;
    age_token(&home, 60);
    server.expire_access_tokens();
    server.revoke_refresh_tokens();

    let started = std::time::Instant::now();
    let call = home.run(&["call", "srv", "whoami"]).await;
    let text = stderr(&call);
    println!("{text}");
    assert_eq!(call.status.code(), Some(1), "{text}");
    assert!(text.contains("srv"), "{text}");
    assert!(text.contains("mcpomni auth srv"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // Not a terminal: no browser, no new authorization, one refresh attempt.
    assert_eq!(home.browser_opened(), 1);
    assert_eq!(server.requests_to("GET /authorize"), 1);
    assert_eq!(
        server.grants(),
        ["authorization_code", "refresh_token"],
        "{}",
        server.journal().join("\n")
    );
    assert_eq!(server.calls(), 0);

    assert_nothing_leaked(&server, &home, &[&auth, &call]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_refreshing_at_once_make_one_refresh() {
    let server = OAuthServer::start(Behaviour {
        expires_in: 20,
        // Long enough that the second process asks while the first one's refresh is under way.
        refresh_delay: std::time::Duration::from_millis(600),
        ..Behaviour::default()
    })
    .await;
    let home = Home::new(&server.url(), json!({}));
    let auth = sign_in(&home, &server).await;
    age_token(&home, 60);
    server.expire_access_tokens();

    let args = ["call", "srv", "whoami"];
    let (a, b) = tokio::join!(
        oauth_home::finish(home.command(&args), &args),
        oauth_home::finish(home.command(&args), &args),
    );
    assert!(a.status.success(), "first: {}", stderr(&a));
    assert!(b.status.success(), "second: {}", stderr(&b));
    assert_eq!(stdout(&a).trim(), "signed in as tester");
    assert_eq!(stdout(&b).trim(), "signed in as tester");
    // The file lock serialised them: the second one found the token the first one saved.
    assert_eq!(
        server.grants(),
        ["authorization_code", "refresh_token"],
        "{}",
        server.journal().join("\n")
    );
    assert_nothing_leaked(&server, &home, &[&auth, &a, &b]);
}

/// Legacy HTTP+SSE: the kept token goes with the `GET /sse` stream and every `POST`; without
/// one (and no terminal) the server needs a sign-in and says how.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_server_gets_the_kept_token_too() {
    let server = OAuthServer::start(Behaviour::default()).await;
    let home = Home::with_transport(&server.sse_url(), json!({}), "sse");
    let before = home.run(&["call", "srv", "whoami"]).await;
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));
    assert!(
        stderr(&before).contains("run `mcpomni auth srv`")
            || stderr(&before).contains("mcpomni auth srv"),
        "{}",
        stderr(&before)
    );
    let signed_in = sign_in(&home, &server).await;
    let call = home.run(&["call", "srv", "whoami"]).await;
    assert!(call.status.success(), "{}", stderr(&call));
    assert_eq!(stdout(&call).trim(), "signed in as tester");
    assert_eq!(server.calls(), 1);
    assert_nothing_leaked(&server, &home, &[&before, &signed_in, &call]);
}
