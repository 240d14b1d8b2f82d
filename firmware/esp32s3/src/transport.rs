//! The core's transport on `EspHttpConnection`: HTTPS with ESP-IDF's certificate bundle,
//! the core's headers as given (its `Content-Length` makes the client send the body; a
//! request without it would go out empty), the body in writes of at most 8 KiB, and the
//! response read even after a failed write (S3 may answer 403 early and close).

use std::time::Duration;

use esp_idf_svc::http::client::{Configuration, EspHttpConnection};
use esp_idf_svc::http::Method as EspMethod;
use lakenode::transport::{HttpRequest, HttpResponse, Method, Transport, TransportError};

/// Largest response body kept (S3 error documents are small).
const MAX_BODY: usize = 16 * 1024;
/// Response headers the core uses.
const HEADERS: [&str; 4] = ["date", "etag", "x-amz-request-id", "content-type"];

pub struct EspTransport {
    pub timeout: Duration,
}

impl Transport for EspTransport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = request.redacted_url();
        let mut conn = EspHttpConnection::new(&Configuration {
            timeout: Some(self.timeout),
            crt_bundle_attach: Some(esp_idf_svc::sys::esp_crt_bundle_attach),
            ..Default::default()
        })
        .map_err(|e| TransportError::Connect(format!("{url}: {e}")))?;
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let method = match request.method {
            Method::Get => EspMethod::Get,
            Method::Put => EspMethod::Put,
        };
        conn.initiate_request(method, request.url.as_str(), &headers)
            .map_err(|e| TransportError::Connect(format!("{url}: {e}")))?;
        let mut write_error = None;
        for piece in request.body_writes() {
            if let Err(e) = conn.write_all(piece) {
                write_error = Some(e);
                break;
            }
        }
        if let Err(e) = conn.initiate_response() {
            let cause = write_error
                .map_or_else(|| e.to_string(), |w| format!("{w} while sending, then {e}"));
            return Err(TransportError::Io(format!("{url}: {cause}")));
        }
        let status = conn.status();
        let headers = HEADERS
            .iter()
            .filter_map(|h| conn.header(h).map(|v| ((*h).to_owned(), v.to_owned())))
            .collect();
        let mut body = Vec::new();
        let mut buf = [0u8; 1024];
        while body.len() < MAX_BODY {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&buf[..n]),
                Err(e) => {
                    return Err(TransportError::Io(format!(
                        "{url}: reading the response: {e}"
                    )))
                }
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
