//! URL-mode elicitation: a server asks the user to visit a page (to sign in, pay, enter a
//! secret out of band). The URL is checked before it is ever shown as something to open:
//! only `http` and `https` pass; `file:`, `javascript:`, `data:` and everything else are
//! refused with the server named. Opening happens only when the user asks, through the
//! desktop's opener, with its output discarded.

use std::process::Stdio;

/// A URL that may be offered to the user, or why not.
pub fn check_url(server: &str, url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url.trim()).map_err(|error| {
        format!(
            "server `{server}` asked to open `{}`, which is not a valid URL ({error})",
            crate::text::truncate_chars(&crate::redact::display_url(url), 120)
        )
    })?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(parsed),
        scheme => Err(format!(
            "server `{server}` asked to open a `{scheme}:` URL; mcpomni opens only http and \
             https pages"
        )),
    }
}

/// The command that opens a URL on this desktop.
fn opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    }
}

/// Opens `url` in the user's browser, quietly (the opener's output would garble the
/// dashboard). Returns once the opener has started, or why it could not.
pub fn open_in_browser(url: &url::Url) -> Result<(), String> {
    std::process::Command::new(opener())
        .arg(url.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|mut child| {
            // Reap it in the background so it leaves no zombie.
            std::thread::spawn(move || child.wait());
        })
        .map_err(|error| format!("could not run `{}`: {error}", opener()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_pass_and_refusals_name_the_server() {
        assert!(check_url("s", "https://example.com/login?x=1").is_ok());
        assert!(check_url("s", "http://127.0.0.1:8080/").is_ok());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,<b>hi</b>",
            "ftp://example.com/x",
            "mailto:a@example.com",
            "vscode://open?x",
        ] {
            let why = check_url("evil", bad).expect_err(bad);
            assert!(why.contains("server `evil`"), "{why}");
            assert!(why.contains("only http and https"), "{why}");
        }
        let why = check_url("s", "not a url").expect_err("not a url");
        assert!(why.contains("not a valid URL"), "{why}");
    }
}
