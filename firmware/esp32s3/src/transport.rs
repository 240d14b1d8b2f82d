//! The core's transport on `EspHttpConnection`: a new HTTPS connection per request,
//! verified against ESP-IDF's certificate bundle, driven by the core's `send_over`
//! (headers as given plus `Host` with the signed port, body in writes of at most 8 KiB,
//! a stalled write an error rather than a panic, the reply read even after a failed
//! write), which is tested on the host, with a send buffer sized for the request line.
//!
//! On the air (README, "On the air"): a connection per request means a full TLS
//! handshake per request, two per window with health rows. Resuming the session needs
//! one esp_http_client handle kept for the task's life with `save_client_session` set
//! (CONFIG_ESP_TLS_CLIENT_SESSION_TICKETS is on in sdkconfig.defaults); esp-idf-svc's
//! `Configuration` has no such field and keeps its handle private, so that is a patched
//! esp-idf-svc or a transport on esp-idf-sys's `esp_http_client_*` (not done yet).

use std::time::Duration;

use esp_idf_svc::http::client::{Configuration, EspHttpConnection};
use lakenode::transport::{send_over, HttpRequest, HttpResponse, Transport, TransportError};

pub struct EspTransport {
    pub timeout: Duration,
}

impl Transport for EspTransport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut conn = EspHttpConnection::new(&Configuration {
            timeout: Some(self.timeout),
            // The whole request line must fit (512 B by default; a presigned URL with
            // an STS session token is ~1.5 KB): "Out of buffer" otherwise.
            buffer_size_tx: Some(request.send_buffer_size()),
            crt_bundle_attach: Some(esp_idf_svc::sys::esp_crt_bundle_attach),
            ..Default::default()
        })
        .map_err(|e| TransportError::Connect(format!("{}: {e}", request.redacted_url())))?;
        send_over(&mut conn, request)
    }
}
