//! The browser step of the authorization-code flow: where the authorization server sends the
//! code back to. Normally a loopback listener (`http://127.0.0.1:PORT/callback`) opened before
//! the authorization URL is shown, which answers the browser with a short page and hands the
//! query over; the URL is announced (the dashboard shows it, a terminal prints it) and, when
//! asked, opened in the user's browser. The conformance command has no person to click: it
//! fetches the authorization URL itself with redirects off and reads the code from the
//! `Location` header (the suite's authorization server approves at once).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::AuthFailure;

/// Who is told the authorization URL: `(server, url)`.
pub type Announce = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The longest request line and headers read from the browser.
const MAX_CALLBACK_REQUEST: usize = 16 * 1024;
/// The redirect URI the conformance command registers (never listened on).
const FETCH_REDIRECT_URI: &str = "http://127.0.0.1:3000/callback";

/// How the code comes back.
#[derive(Clone)]
pub enum BrowserStep {
    /// A person signs in in a browser; the code arrives at a loopback listener.
    Loopback {
        announce: Announce,
        /// Try to open the system browser at the URL.
        open_browser: bool,
        /// How long to wait for the browser to come back.
        wait: Duration,
    },
    /// Fetch the URL with redirects off; the code is in the `Location` (conformance only).
    FetchRedirect,
}

/// The parameters the authorization server sent back.
#[derive(Debug)]
pub struct Callback {
    pub code: String,
    pub state: String,
    pub issuer: Option<String>,
}

/// A browser step under way: the redirect URI is fixed, the code not yet back.
pub enum Pending {
    Loopback {
        listener: TcpListener,
        redirect_uri: String,
        step: BrowserStep,
    },
    Fetch,
}

impl BrowserStep {
    /// Opens the listener (on `port`, or a free one) so the redirect URI can be registered.
    pub async fn begin(&self, server: &str, port: Option<u16>) -> Result<Pending, AuthFailure> {
        match self {
            BrowserStep::FetchRedirect => Ok(Pending::Fetch),
            BrowserStep::Loopback { .. } => {
                let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
                    .await
                    .map_err(|error| {
                        AuthFailure::new(
                            server,
                            "callback listener",
                            match port {
                                Some(port) if error.kind() == std::io::ErrorKind::AddrInUse => {
                                    format!(
                                        "port {port} (auth.redirect_port) is already in use; \
                                         free it or choose another"
                                    )
                                }
                                _ => error.to_string(),
                            },
                        )
                    })?;
                let port = listener
                    .local_addr()
                    .map_err(|e| AuthFailure::new(server, "callback listener", e.to_string()))?
                    .port();
                Ok(Pending::Loopback {
                    listener,
                    redirect_uri: format!("http://127.0.0.1:{port}/callback"),
                    step: self.clone(),
                })
            }
        }
    }
}

impl Pending {
    pub fn redirect_uri(&self) -> &str {
        match self {
            Pending::Loopback { redirect_uri, .. } => redirect_uri,
            Pending::Fetch => FETCH_REDIRECT_URI,
        }
    }

    /// Shows `url` (and opens it, if asked) and waits for the code.
    pub async fn wait(self, server: &str, url: &str) -> Result<Callback, AuthFailure> {
        match self {
            Pending::Fetch => fetch_redirect(server, url).await,
            Pending::Loopback {
                listener,
                step:
                    BrowserStep::Loopback {
                        announce,
                        open_browser,
                        wait,
                    },
                ..
            } => {
                announce(server, url);
                if open_browser {
                    // Quietly: the URL is shown anyway, for a person to open by hand.
                    if let Ok(parsed) = url::Url::parse(url) {
                        let _ = crate::runtime::elicitation::url::open_in_browser(&parsed);
                    }
                }
                match tokio::time::timeout(wait, receive(&listener, server)).await {
                    Ok(result) => result,
                    Err(_) => Err(AuthFailure::new(
                        server,
                        "browser sign-in",
                        format!(
                            "no answer from the browser within {}",
                            crate::text::human_duration(wait)
                        ),
                    )),
                }
            }
            Pending::Loopback { .. } => Err(AuthFailure::new(
                server,
                "browser sign-in",
                "internal error: a loopback wait without a loopback step".to_owned(),
            )),
        }
    }
}

/// Accepts connections until one brings the callback (browsers also ask for a favicon).
async fn receive(listener: &TcpListener, server: &str) -> Result<Callback, AuthFailure> {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if let Some(result) = answer(stream, server).await {
            return result;
        }
    }
}

/// Reads one request; `None` when it was not the callback.
async fn answer(mut stream: TcpStream, server: &str) -> Option<Result<Callback, AuthFailure>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    let head = loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break String::from_utf8_lossy(&buffer[..end]).into_owned();
        }
        if buffer.len() > MAX_CALLBACK_REQUEST {
            return None;
        }
    };
    let target = head.lines().next()?.split_whitespace().nth(1)?.to_owned();
    if !target.starts_with("/callback") {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return None;
    }
    let result = parse_callback(server, &format!("http://127.0.0.1{target}"));
    let page = match &result {
        Ok(_) => format!("Signed in to {server}. You can close this tab and go back to mcpomni."),
        Err(failure) => format!("Sign-in to {server} failed: {}", failure.message),
    };
    let page = page.replace('<', "&lt;");
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    Some(result)
}

/// The code, state and issuer of a redirect URL, or what the authorization server refused.
pub fn parse_callback(server: &str, redirect: &str) -> Result<Callback, AuthFailure> {
    let fail = |message: String| AuthFailure::new(server, "authorization", message);
    let url = url::Url::parse(redirect).map_err(|e| fail(format!("bad redirect ({e})")))?;
    let mut code = None;
    let mut state = None;
    let mut issuer = None;
    let mut error = None;
    let mut description = None;
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => state = Some(value.into_owned()),
            "iss" => issuer = Some(value.into_owned()),
            "error" => error = Some(crate::text::sanitize_line(&value)),
            "error_description" => description = Some(crate::text::sanitize_line(&value)),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Err(fail(match description {
            Some(description) => {
                format!("the authorization server answered {error}: {description}")
            }
            None => format!("the authorization server answered {error}"),
        }));
    }
    match (code, state) {
        (Some(code), Some(state)) => Ok(Callback {
            code,
            state,
            issuer,
        }),
        (None, _) => Err(fail("the redirect carries no code".to_owned())),
        (Some(_), None) => Err(fail("the redirect carries no state".to_owned())),
    }
}

/// Conformance only: the authorization server redirects at once, so the code is in the
/// `Location` of its answer.
async fn fetch_redirect(server: &str, url: &str) -> Result<Callback, AuthFailure> {
    let fail = |message: String| AuthFailure::new(server, "authorization", message);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(format!("fetching the authorization URL: {e}")))?;
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            fail(format!(
                "the authorization URL answered HTTP {} without a redirect",
                response.status().as_u16()
            ))
        })?;
    parse_callback(server, location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_reported_with_its_words() {
        let failure = parse_callback(
            "gh",
            "http://127.0.0.1:1/callback?error=access_denied&error_description=User+said+no&state=s",
        )
        .unwrap_err();
        assert_eq!(
            failure.to_string(),
            "server `gh`: authorization: the authorization server answered access_denied: User said no"
        );
    }

    #[test]
    fn code_state_and_issuer_are_read() {
        let callback = parse_callback(
            "gh",
            "http://127.0.0.1:1/callback?code=c1&state=s1&iss=https%3A%2F%2Fa",
        )
        .unwrap();
        assert_eq!(callback.code, "c1");
        assert_eq!(callback.state, "s1");
        assert_eq!(callback.issuer.as_deref(), Some("https://a"));
    }

    #[tokio::test]
    async fn a_busy_callback_port_is_named() {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let step = BrowserStep::Loopback {
            announce: Arc::new(|_, _| {}),
            open_browser: false,
            wait: Duration::from_secs(1),
        };
        let Err(failure) = step.begin("gh", Some(port)).await else {
            panic!("a busy port must be refused")
        };
        assert!(
            failure.to_string().contains(&format!(
                "port {port} (auth.redirect_port) is already in use"
            )),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn the_browser_that_never_comes_back_times_out() {
        let step = BrowserStep::Loopback {
            announce: Arc::new(|_, _| {}),
            open_browser: false,
            wait: Duration::from_millis(200),
        };
        let pending = step.begin("gh", None).await.unwrap();
        let failure = pending
            .wait("gh", "http://127.0.0.1:1/authorize")
            .await
            .unwrap_err();
        assert!(
            failure.to_string().contains("no answer from the browser"),
            "{failure}"
        );
    }
}
