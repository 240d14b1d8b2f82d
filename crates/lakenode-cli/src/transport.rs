//! The host's HTTP transport for the core: `ureq` with rustls (certificates verified
//! against the bundled Mozilla roots).
//!
//! Request bodies are given to ureq as a slice with the core's `Content-Length`, so
//! ureq never switches to chunked encoding; its output buffer is set to 8 KiB so the
//! body reaches the socket in writes of at most [`lakenode::transport::MAX_WRITE`].

use std::io::Read as _;
use std::time::Duration;

use lakenode::transport::{HttpRequest, HttpResponse, MAX_WRITE, Method, Transport, TransportError};

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
    fn send(&mut self, request: &HttpRequest<'_>) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let result = match request.method {
            Method::Put => builder.body(request.body).map(|r| self.agent.run(r)),
            Method::Get => builder.body(()).map(|r| self.agent.run(r)),
        };
        let mut response = result
            .map_err(|e| TransportError::Refused(format!("invalid request for {}: {e}", request.redacted_url())))?
            .map_err(|e| map_error(&e, request))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BODY)
            .read_to_end(&mut body)
            .map_err(|e| TransportError::Io(format!("reading response from {}: {e}", request.redacted_url())))?;
        Ok(HttpResponse { status, headers, body })
    }
}

/// Maps a ureq error, making sure no presigned query string (a short-lived bearer
/// credential) ends up in the message.
fn map_error(e: &ureq::Error, request: &HttpRequest<'_>) -> TransportError {
    let url = request.redacted_url();
    let text = e.to_string().replace(request.url.as_str(), &url);
    let text = match text.find("X-Amz-") {
        Some(_) => format!("{} (details withheld: they contained the signed URL)", error_kind(e)),
        None => text,
    };
    let msg = format!("{url}: {text}");
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout(msg),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            TransportError::Connect(msg)
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => TransportError::Connect(msg),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => TransportError::Timeout(msg),
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
