//! Sampling: a server asking the user's LLM for a completion (`sampling/createMessage`). The
//! runtime knows no LLM, so it only forwards each request, with a reply channel, to whoever
//! handles sampling (the agent, which asks the user and calls the model). Sampling is declared
//! to servers only when such a handler exists.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{CreateMessageRequestParams, CreateMessageResult};
use tokio::sync::{mpsc, oneshot};

use super::messages::ServerName;

/// How long a sampling request may wait for the user and the model before it is refused.
pub const SAMPLING_DEADLINE: Duration = Duration::from_secs(600);

/// One request from a server, to be answered on `reply`.
#[derive(Debug)]
pub struct SamplingRequest {
    pub server: ServerName,
    pub params: CreateMessageRequestParams,
    pub reply: oneshot::Sender<Result<CreateMessageResult, ErrorData>>,
}

pub type SamplingSender = mpsc::Sender<SamplingRequest>;

/// Hands `params` to the handler and waits for its answer (bounded by [`SAMPLING_DEADLINE`]).
pub async fn forward(
    handler: &SamplingSender,
    server: ServerName,
    params: CreateMessageRequestParams,
) -> Result<CreateMessageResult, ErrorData> {
    let (reply, answer) = oneshot::channel();
    let request = SamplingRequest {
        server,
        params,
        reply,
    };
    if handler.send(request).await.is_err() {
        return Err(ErrorData::internal_error(
            "mcpomni cannot sample right now (no LLM is running)",
            None,
        ));
    }
    match tokio::time::timeout(SAMPLING_DEADLINE, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ErrorData::internal_error(
            "the sampling request was dropped",
            None,
        )),
        Err(_) => Err(ErrorData::internal_error(
            "nobody answered the sampling request in time",
            None,
        )),
    }
}
