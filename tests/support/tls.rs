//! A real https server whose certificate is signed by a throwaway CA nobody trusts (openssl
//! makes the certificates, python3's ssl module serves them), for TLS error tests.

use std::time::{Duration, Instant};

pub struct UntrustedHttps {
    pub port: u16,
    child: tokio::process::Child,
    dir: std::path::PathBuf,
}

impl UntrustedHttps {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mcpomni-tls-{}-{}",
            std::process::id(),
            super::peers::free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let script = "set -e
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \\
              -subj /CN=test-ca -keyout ca.key -out ca.pem
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
              -subj /CN=localhost -keyout key.pem -out leaf.csr
            printf 'basicConstraints=critical,CA:FALSE\\nsubjectAltName=IP:127.0.0.1\\n' > leaf.ext
            openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \\
              -extfile leaf.ext -out cert.pem";
        let status = std::process::Command::new("sh")
            .args(["-c", script])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "openssl is needed to make the test certificate (.ci/run installs it)"
        );
        let port = super::peers::free_port();
        let server = format!(
            "import http.server, ssl\n\
             s = http.server.HTTPServer(('127.0.0.1', {port}), http.server.BaseHTTPRequestHandler)\n\
             c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('cert.pem', 'key.pem')\n\
             s.socket = c.wrap_socket(s.socket, server_side=True)\n\
             s.serve_forever()\n"
        );
        let child = tokio::process::Command::new("python3")
            .args(["-c", &server])
            .current_dir(&dir)
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the TLS server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { port, child, dir }
    }
}

impl Drop for UntrustedHttps {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
