//! The serde mirror of the file as written. Nearly everything is optional so
//! that defaults and semantic checks live in `build`, where errors can point
//! at exact positions; unknown keys are ignored because MCPOmni Connect's
//! files carry keys that mcpomni has no use for. Nothing here derives `Debug`:
//! these values still hold secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};

/// A JSON object deserialized into `T`.
///
/// Derived structs also accept JSON arrays (fields by position); wrapping
/// them forces an object and gives the error message "expected an object".
pub(crate) struct Obj<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = Obj<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
            }
        }

        deserializer.deserialize_map(ObjVisitor(PhantomData))
    }
}

/// A JSON object kept as entries in file order, duplicates included, so that
/// `build` can report a server name given twice.
pub(crate) struct Entries<T>(pub(crate) Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for EntriesVisitor<T> {
            type Value = Entries<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
pub(crate) struct RawConfig {
    #[serde(rename = "AgentConfig")]
    pub(crate) agent: Option<Obj<RawAgent>>,
    #[serde(rename = "LLM")]
    pub(crate) llm: Option<Obj<RawLlm>>,
    #[serde(rename = "mcpServers")]
    pub(crate) servers: Option<Entries<Obj<RawServer>>>,
    #[serde(rename = "UI")]
    pub(crate) ui: Option<Obj<RawUi>>,
    pub(crate) memory: Option<Obj<RawStore>>,
    /// Roots for every server (paths or `file://` URIs); a server's own `roots` wins.
    pub(crate) roots: Option<Vec<String>>,
}

/// The top-level `memory` section: where conversations are kept.
#[derive(Deserialize)]
pub(crate) struct RawStore {
    pub(crate) backend: Option<String>,
    pub(crate) redis_url: Option<String>,
    pub(crate) ttl_seconds: Option<u64>,
}

/// Durations are seconds as any JSON number; the sign is checked in `build`.
#[derive(Deserialize)]
pub(crate) struct RawAgent {
    pub(crate) tool_call_timeout: Option<f64>,
    pub(crate) max_steps: Option<u32>,
    pub(crate) mode: Option<String>,
    pub(crate) max_parallel_agents: Option<u32>,
    pub(crate) breakpoints: Option<Vec<String>>,
    pub(crate) request_limit: Option<u64>,
    pub(crate) total_tokens_limit: Option<u64>,
    pub(crate) memory_config: Option<Obj<RawMemory>>,
    pub(crate) startup_timeout: Option<f64>,
    pub(crate) ping_interval: Option<f64>,
    pub(crate) ping_timeout: Option<f64>,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) auto_approve: Option<Vec<String>>,
    pub(crate) always_ask: Option<Vec<String>>,
    pub(crate) auto_approve_read_only: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct RawPrice {
    pub(crate) input: f64,
    pub(crate) output: f64,
}

#[derive(Deserialize)]
pub(crate) struct RawMemory {
    pub(crate) mode: Option<String>,
    pub(crate) value: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct RawLlm {
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) temperature: Option<f64>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) top_p: Option<f64>,
    pub(crate) max_context_length: Option<u32>,
    pub(crate) azure_endpoint: Option<String>,
    pub(crate) azure_api_version: Option<String>,
    pub(crate) azure_deployment: Option<String>,
    pub(crate) ollama_host: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) price: Option<Obj<RawPrice>>,
    pub(crate) tool_calling: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawUi {
    pub(crate) theme: Option<String>,
    pub(crate) mouse: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct RawServer {
    pub(crate) transport_type: Option<String>,
    /// Claude Desktop's name for the transport.
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) command: Option<String>,
    pub(crate) args: Option<Vec<String>>,
    pub(crate) env: Option<BTreeMap<String, String>>,
    pub(crate) cwd: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) timeout: Option<f64>,
    pub(crate) sse_read_timeout: Option<f64>,
    pub(crate) startup_timeout: Option<f64>,
    pub(crate) ping_interval: Option<f64>,
    pub(crate) ping_timeout: Option<f64>,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) log_level: Option<String>,
    pub(crate) enabled: Option<bool>,
    /// Claude Desktop's way to switch a server off.
    pub(crate) disabled: Option<bool>,
    pub(crate) auth: Option<Obj<RawAuth>>,
    pub(crate) roots: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub(crate) struct RawAuth {
    pub(crate) method: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) token: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) client_metadata_url: Option<String>,
    pub(crate) redirect_port: Option<u16>,
    pub(crate) grant: Option<String>,
    pub(crate) private_key: Option<String>,
    pub(crate) signing_algorithm: Option<String>,
    pub(crate) idp_issuer: Option<String>,
    pub(crate) idp_token_endpoint: Option<String>,
    pub(crate) idp_client_id: Option<String>,
    pub(crate) idp_client_secret: Option<String>,
    pub(crate) id_token: Option<String>,
}
