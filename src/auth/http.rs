//! The streamable HTTP client of an OAuth-protected server: every request carries the
//! server's current access token, and the server's verdict drives authorization — a 401
//! refreshes (or signs in again, when this runtime may), a 403 `insufficient_scope` steps up
//! to the union of the scopes asked for so far, and the request is sent once more. What
//! cannot be fixed here reaches rmcp unchanged, and the connection's [`LinkLoss`] hears
//! of a 401, so the server shows NeedsAuth with the reason.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use super::ServerAuth;
use crate::runtime::challenge::AuthChallenge;
use crate::runtime::link_loss::{LinkLoss, Loss};

/// `C` with the server's OAuth tokens attached (cheap to clone, as rmcp needs).
#[derive(Clone)]
pub(crate) struct OAuthHttp<C> {
    inner: C,
    /// `None`: the server is not OAuth-protected (or has a token of its own); requests pass.
    auth: Option<Arc<ServerAuth>>,
    loss: LinkLoss,
}

impl<C> OAuthHttp<C> {
    pub(crate) fn new(inner: C, auth: Option<Arc<ServerAuth>>, loss: LinkLoss) -> Self {
        Self { inner, auth, loss }
    }
}

type Failure<E> = StreamableHttpError<E>;

/// Sends of one request at most: the first, a refresh or sign-in, and the step-ups.
const MAX_ROUNDS: u32 = 2 + super::MAX_STEP_UPS;

impl<C> OAuthHttp<C>
where
    C: StreamableHttpClient + Sync,
{
    /// Runs `call` with the current token, and again with a better one after a 401 or a 403
    /// `insufficient_scope` when [`ServerAuth`] can get one.
    async fn authorized<T, F, Fut>(
        &self,
        given: Option<String>,
        call: F,
    ) -> Result<T, Failure<C::Error>>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, Failure<C::Error>>>,
    {
        let Some(auth) = &self.auth else {
            return call(given).await;
        };
        let mut token = match auth.token().await {
            Ok(token) => token,
            Err(failure) => {
                // The kept tokens cannot be used (a corrupt or exposed file, a refusal from
                // the authorization server): the user has to act, as for a 401.
                self.loss.report(Loss::NeedsAuth(failure.reason()));
                return Err(StreamableHttpError::UnexpectedServerResponse(
                    failure.to_string().into(),
                ));
            }
        };
        // Each round either ends the call or gets a new token; a server that keeps refusing
        // good tokens gets the last refusal after a few rounds, never a loop.
        let mut rounds = 0;
        loop {
            rounds += 1;
            let result = call(token.clone()).await;
            if rounds > MAX_ROUNDS {
                return result;
            }
            let next = match &result {
                Err(StreamableHttpError::AuthRequired(required)) => {
                    auth.unauthorized(&required.www_authenticate_header, token.as_deref())
                        .await
                }
                Err(StreamableHttpError::InsufficientScope(required)) => {
                    auth.insufficient_scope(&required.www_authenticate_header)
                        .await
                }
                _ => return result,
            };
            match next {
                Ok(fresh) => token = Some(fresh),
                Err(failure) => {
                    if let Err(StreamableHttpError::AuthRequired(required)) = &result {
                        if failure.step == super::SIGN_IN_NEEDED {
                            // Only a person can help: the server's own challenge says the
                            // most (realm, scope, error), as for a server without OAuth.
                            let challenge = AuthChallenge::parse(&required.www_authenticate_header);
                            self.loss.report(Loss::Unauthorized(challenge));
                            return result;
                        }
                        self.loss.report(Loss::NeedsAuth(failure.reason()));
                    }
                    return Err(StreamableHttpError::UnexpectedServerResponse(
                        failure.to_string().into(),
                    ));
                }
            }
        }
    }
}

impl<C> StreamableHttpClient for OAuthHttp<C>
where
    C: StreamableHttpClient + Sync,
{
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Failure<C::Error>> {
        self.authorized(auth_header, |token| {
            self.inner.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Failure<C::Error>> {
        self.authorized(auth_header, |token| {
            self.inner.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Failure<C::Error>> {
        self.authorized(auth_header, |token| {
            self.inner.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Failure<C::Error>> {
        // Leaving needs no new sign-in: the current token or none.
        let token = match &self.auth {
            Some(auth) => auth.token().await.ok().flatten(),
            None => auth_header,
        };
        self.inner
            .delete_session(uri, session_id, token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Failure<C::Error>> {
        self.authorized(auth_header, |token| {
            self.inner.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Failure<C::Error>> {
        self.authorized(auth_header, |token| {
            self.inner.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}
