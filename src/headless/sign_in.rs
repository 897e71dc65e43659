//! `mcpomni auth SERVER` signs in to an OAuth-protected server ahead of time (the browser
//! opens, the URL is printed; the tokens are kept for later runs and the dashboard), and
//! `mcpomni logout SERVER` forgets its tokens.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::auth::browser::BrowserStep;
use crate::auth::{AuthOptions, ServerAuth};
use crate::config::Config;

/// How long a terminal sign-in waits for the browser.
pub const TERMINAL_SIGN_IN_WAIT: Duration = Duration::from_secs(120);

/// The browser step of a terminal: the URL on stderr, the browser opened.
pub fn terminal_browser_step() -> BrowserStep {
    BrowserStep::Loopback {
        announce: Arc::new(|server, url| {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "mcpomni: sign in to `{server}` in your browser (waiting up to {} s):\n  {url}",
                TERMINAL_SIGN_IN_WAIT.as_secs()
            );
        }),
        open_browser: true,
        wait: TERMINAL_SIGN_IN_WAIT,
    }
}

fn server_auth(config: &Config, name: &str) -> Result<Arc<ServerAuth>, i32> {
    let Some(server) = config.server(name) else {
        let known: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "mcpomni: no server named `{name}` in the config (servers: {})",
            known.join(", ")
        );
        return Err(EXIT_USAGE);
    };
    crate::runtime::server_auth(server, &AuthOptions::default()).ok_or_else(|| {
        eprintln!(
            "mcpomni: `{name}` is not an HTTP server without a token of its own; it has no \
             OAuth sign-in"
        );
        EXIT_USAGE
    })
}

pub async fn auth(config: &Config, name: &str) -> i32 {
    let auth = match server_auth(config, name) {
        Ok(auth) => auth,
        Err(status) => return status,
    };
    match auth.sign_in(&terminal_browser_step()).await {
        Ok(()) => {
            eprintln!(
                "mcpomni: signed in to `{name}`; tokens kept in {}",
                auth.tokens().location()
            );
            EXIT_OK
        }
        Err(failure) => {
            eprintln!("mcpomni: {failure}");
            EXIT_FAILURE
        }
    }
}

pub async fn logout(config: &Config, name: &str) -> i32 {
    let auth = match server_auth(config, name) {
        Ok(auth) => auth,
        Err(status) => return status,
    };
    match auth.forget().await {
        Ok(true) => {
            eprintln!("mcpomni: forgot the tokens of `{name}`");
            EXIT_OK
        }
        Ok(false) => {
            eprintln!("mcpomni: no tokens were kept for `{name}`");
            EXIT_OK
        }
        Err(failure) => {
            eprintln!("mcpomni: {failure}");
            EXIT_FAILURE
        }
    }
}
