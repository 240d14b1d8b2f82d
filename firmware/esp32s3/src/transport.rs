//! The core's transport on one `esp_http_client` handle kept for the upload thread's
//! life (`lakenode::esp_client::KeptTransport`): requests of a batch share one HTTPS
//! connection, and a new connection resumes the saved TLS session (README, "On the
//! air"). All the logic (keep-alive, idle close, one retry on a dropped connection,
//! stale headers deleted, a larger handle for a longer request line, the rules of the
//! core's `send_over`) is in the core and tested on the host; this file only wires each
//! call of `EspClientCalls` to its esp-idf-sys function.
//!
//! esp-idf-svc's `EspHttpConnection` is not used: its `Configuration` has no
//! `save_client_session` and it keeps its handle private (README). The configuration
//! (ESP-IDF v5.3.3 `components/esp_http_client/include/esp_http_client.h` 134-192):
//! `save_client_session` (present with CONFIG_ESP_TLS_CLIENT_SESSION_TICKETS, set in
//! sdkconfig.defaults), the certificate bundle, and `buffer_size_tx` as the core asks
//! (the whole request line must fit). TCP keep-alive probes stay off: with
//! `keep_alive_enable` the socket sends one every 5 s after 5 s idle (`esp_http_client.c`
//! 161-163, 651-656), and a kept connection idles between windows until the next request
//! closes it (the core closes after 5 s idle, but only when the next request comes), so
//! the probes would wake the radio every 5 s; a dead connection is found by the request's
//! timeout instead, and the core then tries once more on a new one.
//!
//! Not compiled here (no Xtensa toolchain); type-checked against the stubs in
//! `firmware/api-check`, written from esp-idf-sys 0.38's bindings of that header.

use std::ffi::{c_void, CStr, CString};
use std::time::{Duration, Instant};

use esp_idf_svc::sys;
use lakenode::esp_client::{EspClientCalls, KeptTransport};
use lakenode::{Method, Transport};

/// The upload thread's transport; `timeout` bounds each network wait.
pub fn kept(timeout: Duration) -> impl Transport + Send + 'static {
    let boot = Instant::now();
    KeptTransport::new(
        move |url: &str, send_buffer| EspHandle::new(url, send_buffer, timeout),
        move || u64::try_from(boot.elapsed().as_millis()).unwrap_or(u64::MAX),
    )
}

/// Response headers of the current response, filled by [`on_event`].
type Headers = Vec<(String, String)>;

/// One `esp_http_client` handle and the header list its event handler fills.
struct EspHandle {
    handle: sys::esp_http_client_handle_t,
    headers: *mut Headers,
}

// SAFETY: the handle and the list are owned by this value alone and used by one thread
// at a time (created and used on the upload thread); esp_http_client keeps no
// thread-local state.
unsafe impl Send for EspHandle {}

fn check(code: sys::esp_err_t) -> Result<(), String> {
    sys::EspError::from(code).map_or(Ok(()), |e| Err(e.to_string()))
}

impl EspHandle {
    fn new(url: &str, send_buffer: usize, timeout: Duration) -> Result<Self, String> {
        let url = CString::new(url).map_err(|_| "a NUL byte in the URL".to_owned())?;
        let headers: *mut Headers = Box::into_raw(Box::default());
        let config = sys::esp_http_client_config_t {
            url: url.as_ptr(),
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            buffer_size_tx: i32::try_from(send_buffer).unwrap_or(i32::MAX),
            crt_bundle_attach: Some(sys::esp_crt_bundle_attach),
            keep_alive_enable: false, // see the module docs
            save_client_session: true,
            event_handler: Some(on_event),
            user_data: headers.cast::<c_void>(),
            ..Default::default()
        };
        // SAFETY: `config` and `url` outlive the call, which copies the URL
        // (esp_http_client_set_url, `http_utils_assign_string`); `user_data` stays valid
        // until `drop`, after esp_http_client_cleanup.
        let handle = unsafe { sys::esp_http_client_init(&config) };
        if handle.is_null() {
            // SAFETY: `headers` came from Box::into_raw above and nothing else holds it.
            drop(unsafe { Box::from_raw(headers) });
            return Err("esp_http_client_init failed (out of memory?)".into());
        }
        Ok(Self { handle, headers })
    }
}

impl Drop for EspHandle {
    fn drop(&mut self) {
        // SAFETY: the handle is valid and used by nothing else; after cleanup no event
        // reaches `headers`, which came from Box::into_raw and is freed once.
        unsafe {
            sys::esp_http_client_cleanup(self.handle);
            drop(Box::from_raw(self.headers));
        }
    }
}

/// Collects response headers (`HTTP_EVENT_ON_HEADER`, esp_http_client.c 236-238):
/// `esp_http_client_get_header` reads the request's headers, not the response's.
unsafe extern "C" fn on_event(event: *mut sys::esp_http_client_event_t) -> sys::esp_err_t {
    // SAFETY: ESP-IDF passes its client's event, valid for the call; `user_data` is the
    // handle's list (set at init, alive until after cleanup), and only this thread,
    // inside an esp_http_client call, touches it meanwhile; key and value are
    // NUL-terminated strings for ON_HEADER events.
    unsafe {
        if let Some(event) = event.as_ref() {
            if event.event_id == sys::esp_http_client_event_id_t_HTTP_EVENT_ON_HEADER
                && !event.user_data.is_null()
                && !event.header_key.is_null()
                && !event.header_value.is_null()
            {
                let headers = &mut *event.user_data.cast::<Headers>();
                let name = CStr::from_ptr(event.header_key).to_string_lossy();
                let value = CStr::from_ptr(event.header_value).to_string_lossy();
                headers.push((name.to_ascii_lowercase(), value.into_owned()));
            }
        }
    }
    0 // ESP_OK
}

/// A string argument for C.
fn c(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("a NUL byte in {s:?}"))
}

// SAFETY (every block below): `self.handle` is a live handle owned by this value, used by
// this thread only; string arguments are NUL-terminated and outlive the call (the client
// copies them); buffers are valid for the lengths passed.
impl EspClientCalls for EspHandle {
    fn set_url(&mut self, url: &str) -> Result<(), String> {
        let url = c(url)?;
        check(unsafe { sys::esp_http_client_set_url(self.handle, url.as_ptr()) })
    }

    fn set_method(&mut self, method: Method) -> Result<(), String> {
        let method = match method {
            Method::Get => sys::esp_http_client_method_t_HTTP_METHOD_GET,
            Method::Put => sys::esp_http_client_method_t_HTTP_METHOD_PUT,
            Method::Delete => sys::esp_http_client_method_t_HTTP_METHOD_DELETE,
            Method::Post => sys::esp_http_client_method_t_HTTP_METHOD_POST,
        };
        check(unsafe { sys::esp_http_client_set_method(self.handle, method) })
    }

    fn set_header(&mut self, name: &str, value: &str) -> Result<(), String> {
        let (name, value) = (c(name)?, c(value)?);
        check(unsafe {
            sys::esp_http_client_set_header(self.handle, name.as_ptr(), value.as_ptr())
        })
    }

    fn delete_header(&mut self, name: &str) -> Result<(), String> {
        let name = c(name)?;
        check(unsafe { sys::esp_http_client_delete_header(self.handle, name.as_ptr()) })
    }

    fn open(&mut self, write_len: i32) -> Result<(), String> {
        check(unsafe { sys::esp_http_client_open(self.handle, write_len) })
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, String> {
        let len = i32::try_from(data.len()).unwrap_or(i32::MAX);
        let n = unsafe { sys::esp_http_client_write(self.handle, data.as_ptr().cast(), len) };
        usize::try_from(n).map_err(|_| format!("esp_http_client_write: {n}"))
    }

    fn fetch_headers(&mut self) -> Result<i64, String> {
        // SAFETY: no event runs outside an esp_http_client call on this thread.
        unsafe { (*self.headers).clear() };
        let n = unsafe { sys::esp_http_client_fetch_headers(self.handle) };
        if n < 0 {
            return Err(format!("esp_http_client_fetch_headers: {n}"));
        }
        Ok(n)
    }

    fn status(&self) -> i32 {
        unsafe { sys::esp_http_client_get_status_code(self.handle) }
    }

    fn response_header(&self, name: &str) -> Option<&str> {
        // SAFETY: as in fetch_headers; the list changes only inside fetch_headers.
        let headers = unsafe { &*self.headers };
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
        let n = unsafe { sys::esp_http_client_read(self.handle, buf.as_mut_ptr().cast(), len) };
        usize::try_from(n).map_err(|_| format!("esp_http_client_read: {n}"))
    }

    fn is_complete_data_received(&self) -> bool {
        unsafe { sys::esp_http_client_is_complete_data_received(self.handle) }
    }

    fn close(&mut self) {
        // Closes the connection only; the handle keeps the saved session.
        unsafe { sys::esp_http_client_close(self.handle) };
    }
}
