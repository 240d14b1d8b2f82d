//! The seam between the sans-IO core and a platform's HTTP client.
//!
//! The core builds complete [`HttpRequest`]s (signed URL, headers including
//! `Content-Length`, body) and interprets [`HttpResponse`]s; a [`Transport`] only moves
//! bytes. Implementations: `ureq` in the host CLI, `EspHttpConnection` in the firmware.
//!
//! Contract for implementations, learned the hard way on real S3 and ESP-IDF:
//! - send every header of the request as given, in particular `Content-Length`; never
//!   `Transfer-Encoding: chunked` (AWS answers 501, and ESP-IDF's client sends an empty
//!   body when no length is set, which S3 stores as an empty object with status 200);
//! - write the body in pieces of at most [`MAX_WRITE`] bytes ([`HttpRequest::body_writes`]);
//! - if writing fails, still try to read a response: S3 may answer 403 early and close;
//! - return any status as an [`HttpResponse`]; only failures to get one are errors.

use url::Url;

/// Largest single write of a request body, in bytes.
pub const MAX_WRITE: usize = 8 * 1024;

/// HTTP methods the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Download an object (read-back checks).
    Get,
    /// Upload an object, create a bucket.
    Put,
}

impl Method {
    /// The method's name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// A complete request, ready to send. It owns its body, so that an adapter can hand it
/// to an upload thread while sampling goes on.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Full URL including the presigned query (contains the signature: do not log it
    /// whole, use [`HttpRequest::redacted_url`]).
    pub url: Url,
    /// Headers to send exactly as given; names are lowercase.
    pub headers: Vec<(&'static str, String)>,
    /// The body; `Content-Length` in `headers` always equals its length.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request whose headers start with `content-length` for `body`.
    #[must_use]
    pub fn new(method: Method, url: Url, body: Vec<u8>) -> Self {
        Self {
            method,
            url,
            headers: vec![("content-length", body.len().to_string())],
            body,
        }
    }

    /// The body split into the writes a transport should make (each <= [`MAX_WRITE`]).
    pub fn body_writes(&self) -> impl Iterator<Item = &[u8]> {
        self.body.chunks(MAX_WRITE)
    }

    /// Value of a header, if present (name in lowercase).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The URL without its query string (which holds the signature and credential
    /// scope), safe for logs and error messages.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// A URL without query or fragment.
#[must_use]
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    u.to_string()
}

/// A response: status, headers (names lowercase) and the body, capped by the transport.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers with lowercase names.
    pub headers: Vec<(String, String)>,
    /// The body (an S3 error document or a downloaded object).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Value of a header, matched case-insensitively.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Could not connect (refused, DNS, TLS handshake...).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection timed out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection broke while sending or receiving.
    #[error("connection failed: {0}")]
    Io(String),
    /// The request was refused before sending (e.g. plain http to a public host).
    #[error("request refused: {0}")]
    Refused(String),
}

/// Sends requests. Implemented by each platform; see the module docs for the contract.
pub trait Transport {
    /// Sends `request` and returns the response, whatever its status.
    ///
    /// # Errors
    /// [`TransportError`] when no response could be obtained.
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_request_carries_content_length_and_splits_writes() {
        let body = vec![7u8; 20_000];
        let url = Url::parse("http://127.0.0.1:9/b/k?X-Amz-Signature=abc").expect("url");
        let req = HttpRequest::new(Method::Put, url, body);
        assert_eq!(req.header("content-length"), Some("20000"));
        let writes: Vec<usize> = req.body_writes().map(<[u8]>::len).collect();
        assert_eq!(writes, [8192, 8192, 3616]);
        assert_eq!(req.redacted_url(), "http://127.0.0.1:9/b/k");
    }
}
