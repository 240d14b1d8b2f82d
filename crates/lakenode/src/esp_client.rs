//! One `esp_http_client` handle kept for the upload task's life: requests in a batch
//! share one connection (HTTP keep-alive), and a connection that was closed resumes its
//! TLS session instead of paying a full handshake (README of the firmware, "On the
//! air").
//!
//! The firmware implements [`EspClientCalls`] with the few `esp_http_client_*` C calls
//! (esp-idf-sys) and hands [`KeptTransport`] a function that makes a handle; everything
//! else is here, tested on the host against a fake that follows ESP-IDF v5.3.3's
//! `components/esp_http_client/esp_http_client.c` (`crates/lakenode/tests/esp_kept.rs`).
//! Requests still go through [`send_over`], so the rules of [`crate::transport`] hold
//! (headers as given plus `Host` with the signed port, body in writes of at most 8 KiB, a
//! write of 0 bytes a stalled connection, the reply read even after a failed write).
//!
//! What ESP-IDF v5.3.3 does with a kept handle, and what this module does about it
//! (`esp_http_client.c` line numbers at tag v5.3.3):
//! - **Connection reuse.** `esp_http_client_open` connects only while the handle's
//!   state is below `HTTP_STATE_CONNECTED` (`esp_http_client_connect`, 1429); after a
//!   response it stays connected, so the next request is written on the same
//!   connection. `esp_http_client_set_url` closes it only when the host (1032-1044) or
//!   the port (1068-1072) changes: a new path or query on the same host keeps it.
//! - **Session.** With `save_client_session` (read at 763 when
//!   `CONFIG_ESP_TLS_CLIENT_SESSION_TICKETS` is set) every new connection saves its
//!   session right after the handshake (1476-1480) and the next one offers it
//!   (1440-1443; `esp-tls/esp_tls_mbedtls.c` 210-218, `mbedtls_ssl_set_session`).
//!   `esp_http_client_close` only closes the TLS connection
//!   (`tcp_transport/transport_ssl.c` `base_close`, 318-330): the saved session lives in
//!   the SSL transport and is freed by `esp_http_client_cleanup` (904-912, then
//!   `esp_transport_esp_tls_destroy`, `transport_ssl.c` 533-538). So close + open
//!   resumes, and a new handle pays a full handshake.
//! - **Keep-alive is the caller's job.** Only `esp_http_client_perform` closes after a
//!   `Connection: close` reply (1366-1372); with `open`/`read` the handle stays
//!   "connected" to a server that has gone, and a response not read to its end would be
//!   parsed as the start of the next one. So the connection is closed here after a
//!   `Connection: close`, a response not read completely
//!   (`esp_http_client_is_complete_data_received`), any error, and before a request
//!   after [`IDLE_CLOSE_MS`] of silence; a request that fails on a reused connection is
//!   tried once more on a new (resumed) one: the server may have closed it while idle.
//!   The node's requests are PUTs of fixed keys and bodies, GETs and DELETEs: sending one
//!   twice stores the same thing.
//! - **Request headers persist.** `esp_http_client_set_header` adds to the handle's
//!   request headers (`esp_http_client_delete_header`, 361-364, is the only way out),
//!   so a header of the previous request that this one does not have (`content-md5`, a
//!   session token's header) is deleted before it is sent.
//! - **No `User-Agent`.** The one `esp_http_client_init` sets (813, 850) is deleted
//!   from a new handle: S3 does not use it.
//! - **Response headers** are not readable with `esp_http_client_get_header`, which
//!   reads the *request* headers (356-359): the firmware collects them from the
//!   `HTTP_EVENT_ON_HEADER` events (dispatched at 238) and answers
//!   [`EspClientCalls::response_header`].
//! - **Send buffer.** `buffer_size_tx` is fixed at `esp_http_client_init` and the whole
//!   request line must fit in it (`http_client_prepare_first_line`, "Out of buffer"): a
//!   request needing more than the handle has ([`HttpRequest::send_buffer_size`]) gets
//!   a new handle of that size (a full handshake, once).
//!
//! ```
//! use lakenode::esp_client::{EspClientCalls, KeptTransport};
//! # fn demo<C: EspClientCalls + Send + 'static>(make: fn(&str, usize) -> Result<C, String>) {
//! // `make(url, send_buffer)` calls esp_http_client_init with save_client_session set.
//! let transport = KeptTransport::new(make, || 0);
//! # let _ = transport;
//! # }
//! ```

use crate::transport::{HttpRequest, HttpResponse, Method, Transport, TransportError, send_over};

/// A kept connection idle for longer than this is closed before the next request, which
/// then resumes the TLS session on a new connection rather than writing to one the
/// server may have dropped. An assumption (servers' idle timeouts are not published;
/// S3's is longer): requests of a batch follow each other within a second.
pub const IDLE_CLOSE_MS: u64 = 5_000;

/// The `esp_http_client_*` calls a [`KeptTransport`] makes on one handle, with Rust
/// types (the firmware's implementation is a thin `unsafe` wrapper of each).
pub trait EspClientCalls {
    /// `esp_http_client_set_url`.
    ///
    /// # Errors
    /// The `esp_err_t` as text.
    fn set_url(&mut self, url: &str) -> Result<(), String>;
    /// `esp_http_client_set_method`.
    ///
    /// # Errors
    /// The `esp_err_t` as text.
    fn set_method(&mut self, method: Method) -> Result<(), String>;
    /// `esp_http_client_set_header`.
    ///
    /// # Errors
    /// The `esp_err_t` as text.
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), String>;
    /// `esp_http_client_delete_header`.
    ///
    /// # Errors
    /// The `esp_err_t` as text.
    fn delete_header(&mut self, name: &str) -> Result<(), String>;
    /// `esp_http_client_open(write_len)`: connects if not connected (resuming a saved
    /// session), then sends the request line and headers.
    ///
    /// # Errors
    /// The `esp_err_t` as text.
    fn open(&mut self, write_len: i32) -> Result<(), String>;
    /// `esp_http_client_write`: bytes taken, `Ok(0)` when the socket stayed unwritable
    /// for the whole timeout.
    ///
    /// # Errors
    /// A negative return.
    fn write(&mut self, data: &[u8]) -> Result<usize, String>;
    /// `esp_http_client_fetch_headers`: the response's content length (0 if chunked).
    ///
    /// # Errors
    /// A negative return.
    fn fetch_headers(&mut self) -> Result<i64, String>;
    /// `esp_http_client_get_status_code`.
    fn status(&self) -> i32;
    /// A response header of the current response, collected from `HTTP_EVENT_ON_HEADER`.
    fn response_header(&self, name: &str) -> Option<&str>;
    /// `esp_http_client_read`: bytes read, 0 at the end of the body.
    ///
    /// # Errors
    /// A negative return.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, String>;
    /// `esp_http_client_is_complete_data_received`.
    fn is_complete_data_received(&self) -> bool;
    /// `esp_http_client_close`: closes the connection, keeps the handle and its session.
    fn close(&mut self);
}

/// A [`Transport`] over one kept handle (see the module docs).
pub struct KeptTransport<C, M, T> {
    make: M,
    clock: T,
    client: Option<Kept<C>>,
}

struct Kept<C> {
    calls: C,
    send_buffer: usize,
    /// Whether the handle holds an open connection, and when it was last used.
    open_since: Option<u64>,
    /// Headers set on the handle by the previous request (lowercase names).
    headers: Vec<String>,
}

impl<C, M, T> KeptTransport<C, M, T>
where
    C: EspClientCalls,
    M: FnMut(&str, usize) -> Result<C, String>,
    T: FnMut() -> u64,
{
    /// A transport that makes its handle with `make(url, send_buffer_size)` (the first
    /// request's URL: `esp_http_client_init` needs one) when first needed, and again
    /// for a request whose head needs a larger send buffer; `clock` gives monotonic
    /// milliseconds.
    pub const fn new(make: M, clock: T) -> Self {
        Self {
            make,
            clock,
            client: None,
        }
    }

    fn client(&mut self, request: &HttpRequest) -> Result<&mut Kept<C>, TransportError> {
        let need = request.send_buffer_size();
        if self.client.as_ref().is_none_or(|c| c.send_buffer < need) {
            // Dropping the old handle runs esp_http_client_cleanup (its session too).
            self.client = None;
            let mut calls = (self.make)(request.url.as_str(), need)
                .map_err(|e| TransportError::Connect(format!("{}: {e}", request.redacted_url())))?;
            // esp_http_client_init sets `User-Agent: ESP32 HTTP Client/1.0` (813, 850):
            // 35 bytes a request that S3 does not use (dropped on hosts too, see
            // docs/delivery.md). Its only failure is a header already absent.
            let _ = calls.delete_header("User-Agent");
            self.client = Some(Kept {
                calls,
                send_buffer: need,
                open_since: None,
                headers: Vec::new(),
            });
        }
        self.client
            .as_mut()
            .ok_or_else(|| TransportError::Connect("no client".into()))
    }
}

impl<C, M, T> Transport for KeptTransport<C, M, T>
where
    C: EspClientCalls,
    M: FnMut(&str, usize) -> Result<C, String>,
    T: FnMut() -> u64,
{
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let now = (self.clock)();
        let kept = self.client(request)?;
        if kept
            .open_since
            .is_some_and(|t| now.saturating_sub(t) > IDLE_CLOSE_MS)
        {
            kept.close();
        }
        let reused = kept.open_since.is_some();
        let mut result = send_over(kept, request);
        if result.is_err() && reused {
            // The server may have closed the kept connection while it was idle.
            kept.close();
            result = send_over(kept, request);
        }
        let keep = result.is_ok()
            && kept.calls.is_complete_data_received()
            && !kept
                .calls
                .response_header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !keep {
            kept.close();
        }
        let end = (self.clock)();
        if let Some(kept) = self.client.as_mut().filter(|_| keep) {
            kept.open_since = Some(end);
        }
        result
    }
}

impl<C: EspClientCalls> Kept<C> {
    fn close(&mut self) {
        self.calls.close();
        self.open_since = None;
    }
}

/// Why a call failed (the `esp_err_t` text).
#[derive(Debug)]
pub struct CallError(String);

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

impl embedded_io::Error for CallError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl<C> embedded_io::ErrorType for Kept<C> {
    type Error = CallError;
}

impl<C: EspClientCalls> embedded_io::Write for Kept<C> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, CallError> {
        self.calls.write(buf).map_err(CallError)
    }
    fn flush(&mut self) -> Result<(), CallError> {
        Ok(())
    }
}

impl<C: EspClientCalls> embedded_io::Read for Kept<C> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, CallError> {
        self.calls.read(buf).map_err(CallError)
    }
}

impl<C: EspClientCalls> embedded_svc::http::Status for Kept<C> {
    fn status(&self) -> u16 {
        u16::try_from(self.calls.status()).unwrap_or(0)
    }
    fn status_message(&self) -> Option<&str> {
        None
    }
}

impl<C: EspClientCalls> embedded_svc::http::Headers for Kept<C> {
    fn header(&self, name: &str) -> Option<&str> {
        self.calls.response_header(name)
    }
}

impl<C: EspClientCalls> embedded_svc::http::client::Connection for Kept<C> {
    type Headers = Self;
    type Read = Self;
    type RawConnectionError = CallError;
    type RawConnection = Self;

    fn initiate_request<'a>(
        &'a mut self,
        method: embedded_svc::http::Method,
        uri: &'a str,
        headers: &'a [(&'a str, &'a str)],
    ) -> Result<(), CallError> {
        let Some(method) = Method::from_svc(method) else {
            return Err(CallError(format!("{method:?} is not used by the node")));
        };
        self.calls.set_url(uri).map_err(CallError)?;
        self.calls.set_method(method).map_err(CallError)?;
        // The previous request's headers stay on the handle: delete those this one has
        // not, so that none leaks into it.
        let mine: Vec<String> = headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length"))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        for old in std::mem::take(&mut self.headers) {
            if !mine.contains(&old) {
                // Its only failure is ESP_ERR_NOT_FOUND (`lib/http_header.c` 138-150,
                // v5.3.3): a header that is not there, as wanted.
                let _ = self.calls.delete_header(&old);
            }
        }
        // Recorded before they are set: a failure half-way leaves no header untracked.
        self.headers = mine;
        let mut length = None;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("content-length") {
                // esp_http_client_open sets Content-Length from its write_len.
                length = value.parse::<i32>().ok();
            } else {
                self.calls.set_header(name, value).map_err(CallError)?;
            }
        }
        // As esp-idf-svc: no length on a POST is chunked (-1), else 0.
        let write_len = length.unwrap_or(if method == Method::Post { -1 } else { 0 });
        self.calls.open(write_len).map_err(CallError)?;
        self.open_since.get_or_insert(0);
        Ok(())
    }

    fn is_request_initiated(&self) -> bool {
        self.open_since.is_some()
    }

    fn initiate_response(&mut self) -> Result<(), CallError> {
        self.calls.fetch_headers().map(|_| ()).map_err(CallError)
    }

    fn is_response_initiated(&self) -> bool {
        self.open_since.is_some()
    }

    fn split(&mut self) -> (&Self, &mut Self) {
        unimplemented!("send_over does not split")
    }

    fn raw_connection(&mut self) -> Result<&mut Self, CallError> {
        Err(CallError("no raw connection".into()))
    }
}
