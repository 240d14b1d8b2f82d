//! The seam between the sans-IO core and a platform's HTTP client.
//!
//! The core builds complete [`HttpRequest`]s (signed URL, headers including
//! `Content-Length`, body) and interprets [`HttpResponse`]s; a [`Transport`] only moves
//! bytes. Implementations: `ureq` in the host CLI; on the device, [`send_over`] drives
//! any `embedded-svc` HTTP client connection (ESP-IDF's `EspHttpConnection` is one), so
//! that the firmware only opens the connection and this contract is tested here.
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
    /// Remove an object (compaction, on hosts).
    Delete,
    /// Remove objects in a batch (S3 `DeleteObjects`, compaction, on hosts).
    Post,
}

impl Method {
    /// Every method, for [`Method::from_svc`].
    const ALL: [Self; 4] = [Self::Get, Self::Put, Self::Delete, Self::Post];

    /// As `embedded-svc` names it (what [`send_over`] hands a connection).
    pub(crate) const fn to_svc(self) -> embedded_svc::http::Method {
        use embedded_svc::http::Method as M;
        match self {
            Self::Get => M::Get,
            Self::Put => M::Put,
            Self::Delete => M::Delete,
            Self::Post => M::Post,
        }
    }

    /// The method named so by `embedded-svc` (the one mapping, read backwards);
    /// `None` for one the node never sends.
    pub(crate) fn from_svc(method: embedded_svc::http::Method) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.to_svc() == method)
    }
}

impl Method {
    /// The method's name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Post => "POST",
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

    /// Bytes of the request's head as an HTTP/1.1 client writes it: the request line
    /// (method, path and presigned query), `Host` and the headers, each line ending in
    /// CRLF, and the blank line.
    #[must_use]
    pub fn head_len(&self) -> usize {
        let target = self.url.path().len() + self.url.query().map_or(0, |q| q.len() + 1);
        let line = self.method.as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
        let host = "host: \r\n".len() + authority(&self.url).len();
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + 2 + v.len() + 2)
            .sum();
        line + host + headers + 2
    }

    /// The send buffer an HTTP client that must hold the whole request line (and
    /// headers) at once needs for this request: esp_http_client's `buffer_size_tx`
    /// (512 B by default, "Out of buffer" beyond it; a presigned URL with an STS session
    /// token alone is ~1.5 KB). At least [`MIN_SEND_BUFFER`], in whole KiB.
    #[must_use]
    pub fn send_buffer_size(&self) -> usize {
        self.head_len()
            .div_ceil(1024)
            .saturating_mul(1024)
            .max(MIN_SEND_BUFFER)
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

/// Response headers kept by [`send_over`]: the ones the core reads.
pub const RESPONSE_HEADERS: [&str; 5] = [
    "date",
    "etag",
    "x-amz-request-id",
    "content-type",
    "retry-after",
];

/// Smallest send buffer [`HttpRequest::send_buffer_size`] gives.
pub const MIN_SEND_BUFFER: usize = 4096;

/// Largest response body [`send_over`] keeps (S3 error documents are small).
pub const MAX_RESPONSE_BODY: usize = 16 * 1024;

/// Sends `request` over an `embedded-svc` HTTP client connection, keeping the contract
/// of the module docs: the request's headers as given (its `Content-Length` makes the
/// client send the body; without it ESP-IDF's client opens the PUT with length 0), the
/// body in writes of at most [`MAX_WRITE`] bytes, the response read even after a failed
/// write (S3 may answer 403 early and close), at most [`MAX_RESPONSE_BODY`] of it kept.
///
/// # Errors
/// [`TransportError`] when no response could be obtained.
pub fn send_over<C: embedded_svc::http::client::Connection>(
    conn: &mut C,
    request: &HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let url = request.redacted_url();
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    // The signature covers `host:port` (a port only when it is not the scheme's
    // default); esp_http_client sets `Host` without the port on a URL change, so say
    // it here, exactly as it was signed.
    let authority = authority(&request.url);
    if request.header("host").is_none() && !authority.is_empty() {
        headers.push(("host", authority.as_str()));
    }
    conn.initiate_request(request.method.to_svc(), request.url.as_str(), &headers)
        .map_err(|e| TransportError::Connect(format!("{url}: {e:?}")))?;
    let mut write_error = None;
    for piece in request.body_writes() {
        if let Err(e) = write_piece(conn, piece) {
            write_error = Some(e);
            break;
        }
    }
    if let Err(e) = conn.initiate_response() {
        let cause = write_error.map_or_else(
            || format!("{e:?}"),
            |w| format!("{w} while sending, then {e:?}"),
        );
        return Err(TransportError::Io(format!("{url}: {cause}")));
    }
    let status = conn.status();
    let headers = RESPONSE_HEADERS
        .iter()
        .filter_map(|h| conn.header(h).map(|v| ((*h).to_owned(), v.to_owned())))
        .collect();
    let mut body = Vec::new();
    let mut buf = [0u8; 1024];
    while body.len() < MAX_RESPONSE_BODY {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Err(TransportError::Io(format!(
                    "{url}: reading the response: {e:?}"
                )));
            }
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// `host[:port]` of `url`, the port only when it is not the scheme's default (what
/// SigV4 signs as the `host` header).
fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// Writes all of `piece`. Not embedded-io's `write_all`: esp_http_client returns 0 when
/// the socket stays unwritable for the whole timeout, esp-idf-svc passes that on as
/// `Ok(0)`, and `write_all` panics on it (an abort, so a reboot, on the device). Here
/// it is a stalled connection, an error like any other.
fn write_piece<W: embedded_io::Write>(conn: &mut W, mut piece: &[u8]) -> Result<(), String> {
    while !piece.is_empty() {
        match conn.write(piece) {
            Ok(0) => {
                return Err(
                    "the connection took no byte for the whole timeout (stalled)".to_owned(),
                );
            }
            Ok(n) => piece = piece.get(n..).unwrap_or_default(),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Ok(())
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
    use embedded_svc::http::client::Connection;

    /// An `embedded-svc` connection that records what the client does, refuses body
    /// writes after `accept` bytes (a server that answered early), and answers
    /// `status` with `reply`.
    #[derive(Default)]
    struct FakeConnection {
        method: Option<embedded_svc::http::Method>,
        headers: Vec<(String, String)>,
        writes: Vec<usize>,
        accept: Option<usize>,
        /// After this many bytes, every write returns `Ok(0)` (a stalled socket).
        stall_after: Option<usize>,
        /// Largest write taken at once (a short write); `None`: all of it.
        short: Option<usize>,
        /// `initiate_response` fails (no answer came).
        no_answer: bool,
        written: usize,
        status: u16,
        reply: Vec<u8>,
        read_at: usize,
        response: bool,
    }

    #[derive(Debug)]
    struct Broken;
    impl std::fmt::Display for Broken {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl std::error::Error for Broken {}
    impl embedded_io::Error for Broken {
        fn kind(&self) -> embedded_io::ErrorKind {
            embedded_io::ErrorKind::ConnectionReset
        }
    }
    impl embedded_io::ErrorType for FakeConnection {
        type Error = Broken;
    }
    impl embedded_io::Write for FakeConnection {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Broken> {
            if self.accept.is_some_and(|a| self.written >= a) {
                return Err(Broken);
            }
            if self.stall_after.is_some_and(|a| self.written >= a) {
                return Ok(0);
            }
            let n = self.short.map_or(buf.len(), |s| s.min(buf.len()));
            self.writes.push(n);
            self.written += n;
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), Broken> {
            Ok(())
        }
    }
    impl embedded_io::Read for FakeConnection {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Broken> {
            let n = buf.len().min(self.reply.len() - self.read_at);
            buf[..n].copy_from_slice(&self.reply[self.read_at..self.read_at + n]);
            self.read_at += n;
            Ok(n)
        }
    }
    impl embedded_svc::http::Status for FakeConnection {
        fn status(&self) -> u16 {
            self.status
        }
        fn status_message(&self) -> Option<&str> {
            None
        }
    }
    impl embedded_svc::http::Headers for FakeConnection {
        fn header(&self, name: &str) -> Option<&str> {
            (name == "etag").then_some("\"abc\"")
        }
    }
    impl Connection for FakeConnection {
        type Headers = Self;
        type Read = Self;
        type RawConnectionError = Broken;
        type RawConnection = Self;
        fn initiate_request<'a>(
            &'a mut self,
            method: embedded_svc::http::Method,
            _uri: &'a str,
            headers: &'a [(&'a str, &'a str)],
        ) -> Result<(), Broken> {
            self.method = Some(method);
            self.headers = headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            Ok(())
        }
        fn is_request_initiated(&self) -> bool {
            self.method.is_some()
        }
        fn initiate_response(&mut self) -> Result<(), Broken> {
            if self.no_answer {
                return Err(Broken);
            }
            self.response = true;
            Ok(())
        }
        fn is_response_initiated(&self) -> bool {
            self.response
        }
        fn split(&mut self) -> (&Self, &mut Self) {
            unimplemented!("not used by send_over")
        }
        fn raw_connection(&mut self) -> Result<&mut Self, Broken> {
            Ok(self)
        }
    }

    #[test]
    fn an_embedded_svc_connection_gets_the_length_and_small_writes() {
        let url = Url::parse("https://lake.s3.amazonaws.com/k?X-Amz-Signature=abc").expect("url");
        let req = HttpRequest::new(Method::Put, url, vec![1u8; 20_000]);
        let mut conn = FakeConnection {
            status: 200,
            ..FakeConnection::default()
        };
        let reply = send_over(&mut conn, &req).expect("reply");
        assert_eq!(conn.method, Some(embedded_svc::http::Method::Put));
        assert!(
            conn.headers
                .contains(&("content-length".into(), "20000".into()))
        );
        assert_eq!(conn.writes, [8192, 8192, 3616]);
        assert_eq!((reply.status, reply.header("etag")), (200, Some("\"abc\"")));
    }

    #[test]
    fn an_early_answer_is_read_after_the_write_failed() {
        let url = Url::parse("https://lake.s3.amazonaws.com/k").expect("url");
        let req = HttpRequest::new(Method::Put, url, vec![1u8; 50_000]);
        let doc = b"<Error><Code>AccessDenied</Code></Error>".to_vec();
        let mut conn = FakeConnection {
            accept: Some(8192),
            status: 403,
            reply: doc.clone(),
            ..FakeConnection::default()
        };
        let reply = send_over(&mut conn, &req).expect("the 403 is a reply, not an error");
        assert_eq!((reply.status, reply.body), (403, doc));
        // A huge body is capped.
        let mut conn = FakeConnection {
            status: 500,
            reply: vec![b'x'; 100_000],
            ..FakeConnection::default()
        };
        let req = HttpRequest::new(
            Method::Get,
            Url::parse("https://x/k").expect("url"),
            Vec::new(),
        );
        let reply = send_over(&mut conn, &req).expect("reply");
        assert!(reply.body.len() <= MAX_RESPONSE_BODY + 1024);
    }

    #[test]
    fn a_stalled_write_is_an_error_not_a_panic() {
        let url = Url::parse("https://lake.s3.amazonaws.com/k").expect("url");
        let req = HttpRequest::new(Method::Put, url, vec![1u8; 20_000]);
        let mut conn = FakeConnection {
            stall_after: Some(8192),
            no_answer: true,
            ..FakeConnection::default()
        };
        let err = send_over(&mut conn, &req).expect_err("no reply");
        assert!(err.to_string().contains("stalled"), "{err}");
        // A stalled write after which the server still answered: its reply counts.
        let mut conn = FakeConnection {
            stall_after: Some(100),
            status: 400,
            reply: b"<Error><Code>RequestTimeout</Code></Error>".to_vec(),
            ..FakeConnection::default()
        };
        assert_eq!(send_over(&mut conn, &req).expect("reply").status, 400);
    }

    #[test]
    fn short_writes_still_send_every_byte() {
        let url = Url::parse("https://lake.s3.amazonaws.com/k").expect("url");
        let req = HttpRequest::new(Method::Put, url, vec![1u8; 20_000]);
        let mut conn = FakeConnection {
            short: Some(1_000),
            status: 200,
            ..FakeConnection::default()
        };
        send_over(&mut conn, &req).expect("reply");
        assert_eq!(conn.written, 20_000);
        assert!(conn.writes.iter().all(|n| *n <= 1_000));
    }

    #[test]
    fn the_host_header_carries_the_port_that_was_signed() {
        for (url, host) in [
            ("http://127.0.0.1:9000/lake/k", "127.0.0.1:9000"),
            ("https://lake.s3.amazonaws.com/k", "lake.s3.amazonaws.com"),
            ("https://minio.local:443/lake/k", "minio.local"),
        ] {
            let req = HttpRequest::new(Method::Put, Url::parse(url).expect("url"), vec![1]);
            let mut conn = FakeConnection {
                status: 200,
                ..FakeConnection::default()
            };
            send_over(&mut conn, &req).expect("reply");
            assert!(
                conn.headers.contains(&("host".into(), host.into())),
                "{url}: {:?}",
                conn.headers
            );
        }
    }

    #[test]
    fn the_send_buffer_holds_the_whole_head_of_a_request_with_a_session_token() {
        // A presigned PUT with an STS session token (~1.2 KB of token alone).
        let token = "FwoGZXIvYXdzE".repeat(95);
        let url = format!(
            "https://lake.s3.eu-west-1.amazonaws.com/raw/v1/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=12/day=03/data_0915.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261203%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261203T091500Z&X-Amz-Expires=600&X-Amz-Security-Token={token}&X-Amz-SignedHeaders=content-md5%3Bhost&X-Amz-Signature={}",
            "a".repeat(64)
        );
        let mut req = HttpRequest::new(Method::Put, Url::parse(&url).expect("url"), vec![0; 4000]);
        req.headers
            .push(("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".into()));
        let head = format!(
            "PUT {}?{} HTTP/1.1\r\nhost: lake.s3.eu-west-1.amazonaws.com\r\ncontent-length: 4000\r\ncontent-md5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n\r\n",
            req.url.path(),
            req.url.query().expect("query")
        );
        assert_eq!(req.head_len(), head.len());
        assert!(head.len() > 1_500, "{}", head.len());
        assert!(req.send_buffer_size() >= head.len());
        assert_eq!(req.send_buffer_size() % 1024, 0);
        let short = HttpRequest::new(
            Method::Put,
            Url::parse("http://127.0.0.1:9000/b/k").expect("url"),
            vec![],
        );
        assert_eq!(short.send_buffer_size(), MIN_SEND_BUFFER);
    }

    #[test]
    fn each_method_maps_to_embedded_svc_and_back() {
        for m in Method::ALL {
            assert_eq!(Method::from_svc(m.to_svc()), Some(m));
        }
        assert_eq!(Method::from_svc(embedded_svc::http::Method::Patch), None);
    }

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
