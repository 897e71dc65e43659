//! The HTTP client every HTTP and SSE server shares, built on first use.
//!
//! Building a rustls client reads and parses the system's root certificates: about as much CPU
//! as the rest of a headless command put together. A session with only stdio servers never
//! needs it, so it is built when the first HTTP server connects, once, and then shared.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A cheaply cloned handle to the one lazily built client.
#[derive(Clone, Default)]
pub struct SharedHttpClient(Arc<OnceLock<Result<reqwest::Client, String>>>);

impl SharedHttpClient {
    /// The client, built by the first caller: pooled connections, rustls with ring, a connect
    /// timeout, and no total timeout (it would cut the long-lived event streams; each MCP
    /// request has its own deadline instead). The error says why it could not be built.
    pub fn get(&self) -> Result<reqwest::Client, String> {
        self.0.get_or_init(build).clone()
    }

    /// Whether the client has been built (tests use this to prove a stdio-only session
    /// never pays for it).
    pub fn is_built(&self) -> bool {
        self.0.get().is_some()
    }
}

fn build() -> Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("mcpomni/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_once_on_first_use_and_shared_by_clones() {
        let shared = SharedHttpClient::default();
        let clone = shared.clone();
        assert!(!shared.is_built());
        assert!(clone.get().is_ok());
        assert!(shared.is_built());
        assert!(shared.get().is_ok());
    }
}
