//! mcpomni: a universal MCP client with an LLM agent, as a full-screen terminal dashboard.
//!
//! Layers, each using only the ones below it:
//! - `runtime` (+ `config`, `text`, `auth` for OAuth): tokio actors, one per MCP server, a supervisor, the
//!   catalog; plain-data `Command`s in and `Event`s out. Never touches the terminal.
//! - `tui`: the dashboard, a pure reducer over `AppState` plus views; `headless`: the
//!   non-interactive subcommands. Both drive the same runtime.
//! - `demo`: the bundled demo MCP server, run as the hidden `demo-server` subcommand.

#![forbid(unsafe_code)]

pub mod agent;
pub mod auth;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error_text;
pub mod hash;
pub mod headless;
pub mod llm;
pub mod logging;
pub mod memory;
pub mod protocol;
pub mod redact;
pub mod runtime;
pub mod text;
pub mod tracefile;
pub mod tui;

/// Installs rustls' ring crypto provider. Must run before any HTTP client is built (reqwest
/// panics otherwise); a second call is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
