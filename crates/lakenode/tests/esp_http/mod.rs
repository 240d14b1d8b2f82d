//! An `embedded-svc` HTTP client connection that follows esp_http_client's rules (ESP-IDF
//! v5.3 `esp_http_client.c`, as wrapped by esp-idf-svc 0.53's `EspHttpConnection`),
//! not a PC's, in front of a fake S3 bucket. The core's `send_over` drives it exactly
//! as the firmware's transport drives the real one.
//!
//! The rules kept here, each of which a PC's HTTP client hides:
//! - **Send buffer.** The request line (method, path, presigned query, `HTTP/1.1`) must
//!   fit in `buffer_size_tx` at once, or the request fails ("Out of buffer"); 512 B is
//!   the default, and a presigned URL with an STS session token is ~1.5 KB.
//! - **Host.** On a URL change the client sets `Host` to the host *without* the port,
//!   unless the caller sets `Host` itself; SigV4 signs `host:port`, so S3 then answers
//!   `403 SignatureDoesNotMatch`.
//! - **Length.** A PUT opened without `Content-Length` is sent with length 0: the server
//!   stores an empty object and answers 200.
//! - **Stalls.** When the socket stays unwritable for the whole timeout,
//!   `esp_http_client_write` returns 0 and esp-idf-svc passes `Ok(0)` on; no answer
//!   follows.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use embedded_svc::http::client::Connection;
use lakenode::digest::md5_hex;

/// esp_http_client's default `buffer_size_tx`.
pub const DEFAULT_TX_BUFFER: usize = 512;

/// Why the client failed (what esp-idf-svc would return as an `EspError`).
#[derive(Debug)]
pub struct EspError(pub &'static str);

impl std::fmt::Display for EspError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for EspError {}
impl embedded_io::Error for EspError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

/// What the bucket behind the connection saw, for the test's checks.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests refused for their `Host`.
    pub bad_host: u32,
    /// Request lines too long for the send buffer.
    pub out_of_buffer: u32,
    /// Objects stored empty (a PUT without `Content-Length`).
    pub empty_objects: u32,
    /// Writes answered `Ok(0)`.
    pub stalled_writes: u32,
}

/// One connection (esp-idf-svc makes one per `EspHttpConnection::new`).
pub struct EspRulesConnection<'a> {
    /// `buffer_size_tx` of the client's configuration (`None`: the default).
    pub buffer_size_tx: Option<usize>,
    /// Every write returns `Ok(0)` (the link dropped mid-upload).
    pub stall: bool,
    /// Where objects are stored: `<lake>/<key>`, the bucket's name stripped.
    pub lake: PathBuf,
    /// Counters shared across connections.
    pub seen: &'a mut Seen,
    request: Option<Request>,
    status: u16,
    etag: Option<String>,
    reply: Vec<u8>,
    read_at: usize,
    answered: bool,
}

struct Request {
    path: String,
    host_ok: bool,
    length: usize,
    body: Vec<u8>,
}

impl<'a> EspRulesConnection<'a> {
    /// A fresh connection to the bucket in `lake`.
    pub fn new(lake: PathBuf, buffer_size_tx: Option<usize>, seen: &'a mut Seen) -> Self {
        Self {
            buffer_size_tx,
            stall: false,
            lake,
            seen,
            request: None,
            status: 0,
            etag: None,
            reply: Vec::new(),
            read_at: 0,
            answered: false,
        }
    }

    fn answer(&mut self) {
        let Some(req) = self.request.take() else {
            return;
        };
        if !req.host_ok {
            self.seen.bad_host += 1;
            self.status = 403;
            self.reply = b"<Error><Code>SignatureDoesNotMatch</Code></Error>".to_vec();
            return;
        }
        // Path style: /<bucket>/<key>, percent-encoded `=`.
        let key = req
            .path
            .trim_start_matches('/')
            .split_once('/')
            .map_or("", |(_, k)| k)
            .replace("%3D", "=");
        // The server reads the declared length, no more.
        let body = &req.body[..req.length.min(req.body.len())];
        if req.length == 0 {
            self.seen.empty_objects += 1;
        }
        let path = self.lake.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        self.status = 200;
        self.etag = Some(format!("\"{}\"", md5_hex(body)));
    }
}

impl embedded_io::ErrorType for EspRulesConnection<'_> {
    type Error = EspError;
}

impl embedded_io::Write for EspRulesConnection<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, EspError> {
        let Some(req) = &mut self.request else {
            return Err(EspError("ESP_ERR_INVALID_STATE: no request initiated"));
        };
        if self.stall {
            self.seen.stalled_writes += 1;
            return Ok(0);
        }
        req.body.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), EspError> {
        Ok(())
    }
}

impl embedded_io::Read for EspRulesConnection<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, EspError> {
        let n = buf.len().min(self.reply.len() - self.read_at);
        buf[..n].copy_from_slice(&self.reply[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }
}

impl embedded_svc::http::Status for EspRulesConnection<'_> {
    fn status(&self) -> u16 {
        self.status
    }
    fn status_message(&self) -> Option<&str> {
        None
    }
}

impl embedded_svc::http::Headers for EspRulesConnection<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        match name {
            "etag" => self.etag.as_deref(),
            _ => None,
        }
    }
}

impl Connection for EspRulesConnection<'_> {
    type Headers = Self;
    type Read = Self;
    type RawConnectionError = EspError;
    type RawConnection = Self;

    fn initiate_request<'b>(
        &'b mut self,
        method: embedded_svc::http::Method,
        uri: &'b str,
        headers: &'b [(&'b str, &'b str)],
    ) -> Result<(), EspError> {
        let url = url::Url::parse(uri).map_err(|_| EspError("ESP_ERR_INVALID_ARG: URL"))?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let line = format!(
            "{} {target} HTTP/1.1\r\n",
            format!("{method:?}").to_uppercase()
        );
        if line.len() > self.buffer_size_tx.unwrap_or(DEFAULT_TX_BUFFER) {
            self.seen.out_of_buffer += 1;
            return Err(EspError("ESP_FAIL: Out of buffer"));
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        // Without a Host of the caller's, the client's own: no port.
        let host = header("host").map_or_else(
            || url.host_str().unwrap_or_default().to_owned(),
            str::to_owned,
        );
        let signed = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let length = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.request = Some(Request {
            path: url.path().to_owned(),
            host_ok: host == signed,
            length,
            body: Vec::new(),
        });
        Ok(())
    }

    fn is_request_initiated(&self) -> bool {
        self.request.is_some()
    }

    fn initiate_response(&mut self) -> Result<(), EspError> {
        if self.stall {
            return Err(EspError("ESP_ERR_HTTP_FETCH_HEADER: timeout"));
        }
        self.answer();
        self.answered = true;
        Ok(())
    }

    fn is_response_initiated(&self) -> bool {
        self.answered
    }

    fn split(&mut self) -> (&Self, &mut Self) {
        unimplemented!("send_over does not split")
    }

    fn raw_connection(&mut self) -> Result<&mut Self, EspError> {
        Err(EspError("no raw connection"))
    }
}
