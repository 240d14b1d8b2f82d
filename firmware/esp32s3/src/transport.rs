//! The core's transport on `EspHttpConnection`: a new HTTPS connection per request,
//! verified against ESP-IDF's certificate bundle, driven by the core's `send_over`
//! (headers as given, body in writes of at most 8 KiB, the reply read even after a
//! failed write), which is tested on the host.

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
            crt_bundle_attach: Some(esp_idf_svc::sys::esp_crt_bundle_attach),
            ..Default::default()
        })
        .map_err(|e| TransportError::Connect(format!("{}: {e}", request.redacted_url())))?;
        send_over(&mut conn, request)
    }
}
