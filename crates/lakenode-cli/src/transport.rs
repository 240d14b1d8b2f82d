//! The host's HTTP transport for the core: `ureq` with rustls (certificates verified
//! against the bundled Mozilla roots).
//!
//! Request bodies are given to ureq as a slice with the core's `Content-Length`, so
//! ureq never switches to chunked encoding; its output buffer is set to 8 KiB so the
//! body reaches the socket in writes of at most [`lakenode::transport::MAX_WRITE`].

use std::io::Read as _;
use std::time::Duration;

use lakenode::transport::{
    HttpRequest, HttpResponse, MAX_WRITE, Method, Transport, TransportError,
};

/// Largest response body read (downloads of window files, error documents).
const MAX_RESPONSE_BODY: u64 = 64 * 1024 * 1024;

/// A blocking HTTP(S) client with connection reuse.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// A transport whose every request must finish within `timeout`.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .output_buffer_size(MAX_WRITE)
            .max_redirects(0)
            .user_agent(concat!("lakenode/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: config.into(),
        }
    }
}

impl Transport for UreqTransport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let result = match request.method {
            Method::Put | Method::Post => builder
                .body(request.body.as_slice())
                .map(|r| self.agent.run(r)),
            Method::Get | Method::Delete => builder.body(()).map(|r| self.agent.run(r)),
        };
        let mut response = result
            .map_err(|e| {
                TransportError::Refused(format!(
                    "invalid request for {}: {e}",
                    request.redacted_url()
                ))
            })?
            .map_err(|e| map_error(&e, request))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BODY)
            .read_to_end(&mut body)
            .map_err(|e| {
                TransportError::Io(format!(
                    "reading response from {}: {e}",
                    request.redacted_url()
                ))
            })?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// Maps a ureq error, making sure no presigned query string (a short-lived bearer
/// credential) ends up in the message.
fn map_error(e: &ureq::Error, request: &HttpRequest) -> TransportError {
    let url = request.redacted_url();
    let text = e.to_string().replace(request.url.as_str(), &url);
    let text = match text.find("X-Amz-") {
        Some(_) => format!(
            "{} (details withheld: they contained the signed URL)",
            error_kind(e)
        ),
        None => text,
    };
    let msg = format!("{url}: {text}");
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout(msg),
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => TransportError::Connect(msg),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportError::Connect(msg)
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            TransportError::Timeout(msg)
        }
        _ => TransportError::Io(msg),
    }
}

fn error_kind(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::Io(_) => "io error",
        _ => "request failed",
    }
}

/// Whether `url` points at this machine (plain http is only allowed there by default).
#[must_use]
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    use lakenode::digest::content_md5;
    use lakenode::s3::{Credentials, S3Client, S3Config};

    /// A path-style client for `endpoint` with AWS's example credentials.
    fn client_for(endpoint: &str) -> S3Client {
        let cfg = S3Config::new(endpoint, "lake", "us-east-1", true).expect("config");
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        );
        S3Client::new(&cfg, creds).expect("client")
    }

    /// Accepts one connection, records the raw request head and body, answers `reply`.
    fn capture_one(
        listener: TcpListener,
        reply: &'static str,
    ) -> std::thread::JoinHandle<(String, Vec<u8>)> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read head");
                head.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("read body");
            let mut stream = stream;
            stream.write_all(reply.as_bytes()).expect("reply");
            (head, body)
        })
    }

    #[test]
    fn put_on_the_wire_has_content_length_and_never_chunked_encoding() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let server = capture_one(
            listener,
            "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n",
        );

        let client = client_for(&endpoint);
        // Larger than one 8 KiB write, so the body goes out in several pieces.
        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let request = client.put_object(
            "station=s/data_0000.parquet",
            body.clone(),
            jiff::Timestamp::now(),
        );
        let response = UreqTransport::new(Duration::from_secs(10))
            .send(&request)
            .expect("response");
        assert_eq!(response.status, 200);

        let (head, received) = server.join().expect("server thread");
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.starts_with("put /lake/station%3ds/data_0000.parquet?"),
            "{head}"
        );
        assert_eq!(
            lower.matches("content-length: 20000\r\n").count(),
            1,
            "exactly one Content-Length: {head}"
        );
        assert!(!lower.contains("transfer-encoding"), "{head}");
        assert!(
            lower.contains(&format!(
                "content-md5: {}\r\n",
                content_md5(&body).to_ascii_lowercase()
            )),
            "{head}"
        );
        assert_eq!(received, body);
    }

    #[test]
    fn connection_refused_is_a_transport_error_without_the_signature() {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let client = client_for(&format!("http://127.0.0.1:{port}"));
        let request = client.put_object("k.parquet", b"x".to_vec(), jiff::Timestamp::now());
        let err = UreqTransport::new(Duration::from_secs(5))
            .send(&request)
            .expect_err("nothing listens");
        assert!(
            matches!(err, TransportError::Connect(_) | TransportError::Io(_)),
            "{err:?}"
        );
        assert!(!err.to_string().contains("X-Amz-Signature"), "{err}");
    }

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:9000", true),
            ("http://[::1]:9000", true),
            ("http://localhost:9000", true),
            ("http://10.0.0.5:9000", false),
            ("https://s3.amazonaws.com", false),
        ] {
            assert_eq!(is_loopback(&url::Url::parse(u).expect("url")), want, "{u}");
        }
    }
}
