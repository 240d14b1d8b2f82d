//! The firmware's kept `esp_http_client` handle (`lakenode::esp_client`) against a fake
//! handle that follows ESP-IDF v5.3.3's `esp_http_client.c` (line numbers in
//! `esp_client`'s docs) in front of a fake S3 bucket: connections, full and resumed
//! handshakes counted, the rules of `esp_http_rules.rs` kept.
//!
//! What the fake does as ESP-IDF does: `open` connects only when not connected, offering
//! the saved session (resumed if the server still accepts it) and saving the new one;
//! `set_url` closes on a new host or port; request headers persist until deleted; the
//! request line must fit `buffer_size_tx`; `open(write_len)` sets `Content-Length`; a
//! write of 0 is a stalled socket; a connection the server dropped fails at the next
//! request's write; a response not read to its end is parsed as the start of the next.
//! The bucket checks `Host` against the signed `host:port` and `Content-MD5` against
//! the body (S3 answers 400 BadDigest), and can answer `Connection: close`.

#![allow(clippy::unwrap_used, missing_docs)] // a failed unwrap is a failed test

#[path = "support/example.rs"]
mod example;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use jiff::Timestamp;
use lakenode::digest::content_md5;
use lakenode::esp_client::{EspClientCalls, IDLE_CLOSE_MS, KeptTransport};
use lakenode::s3::S3Client;
use lakenode::{HttpRequest, Method, Transport};

/// The network and the bucket, shared by every handle of a test.
#[derive(Default)]
struct Net {
    objects: BTreeMap<String, Vec<u8>>,
    connections: u32,
    full_handshakes: u32,
    resumed_handshakes: u32,
    handles: u32,
    /// Connections opened before this number were dropped by the server (idle timeout).
    dropped_below: u32,
    /// The server answers `Connection: close`.
    close_after_reply: bool,
    /// Every write stalls (returns 0).
    stall: bool,
    /// The server no longer accepts tickets issued before this number.
    tickets_valid_from: u32,
    /// Requests whose headers the bucket saw: (path, lowercase header names).
    seen: Vec<(String, Vec<String>)>,
    bad_digest: u32,
    bad_host: u32,
    now_ms: u64,
}

struct Response {
    status: i32,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    read_at: usize,
}

struct FakeHandle {
    net: Rc<RefCell<Net>>,
    buffer_size_tx: usize,
    url: url::Url,
    method: Method,
    headers: Vec<(String, String)>,
    /// The connection's number, when connected.
    connected: Option<u32>,
    /// The saved session's ticket number.
    session: Option<u32>,
    body: Vec<u8>,
    response: Option<Response>,
    /// The previous response was not read to its end: the next one is misparsed.
    desync: bool,
}

impl FakeHandle {
    fn new(net: Rc<RefCell<Net>>, url: &str, buffer_size_tx: usize) -> Self {
        net.borrow_mut().handles += 1;
        let url = url::Url::parse(url).unwrap();
        // _set_config with a URL: set_url, Host without the port.
        let host = url.host_str().unwrap().to_owned();
        Self {
            net,
            buffer_size_tx,
            url,
            method: Method::Get,
            // _set_config: User-Agent and Host (esp_http_client.c 850-851).
            headers: vec![
                ("user-agent".into(), "ESP32 HTTP Client/1.0".into()),
                ("host".into(), host),
            ],
            connected: None,
            session: None,
            body: Vec::new(),
            response: None,
            desync: false,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn answer(&mut self) -> Response {
        let mut net = self.net.borrow_mut();
        let path = self.url.path().to_owned();
        net.seen.push((
            path.clone(),
            self.headers.iter().map(|(n, _)| n.clone()).collect(),
        ));
        let signed = match self.url.port() {
            Some(p) => format!("{}:{p}", self.url.host_str().unwrap()),
            None => self.url.host_str().unwrap().to_owned(),
        };
        let mut headers = Vec::new();
        if net.close_after_reply {
            headers.push(("connection".to_owned(), "close".to_owned()));
        }
        let fail = |code: &str, headers| Response {
            status: if code == "SignatureDoesNotMatch" {
                403
            } else {
                400
            },
            headers,
            body: format!("<Error><Code>{code}</Code></Error>").into_bytes(),
            read_at: 0,
        };
        if self.header("host") != Some(signed.as_str()) {
            net.bad_host += 1;
            return fail("SignatureDoesNotMatch", headers);
        }
        if let Some(md5) = self.header("content-md5")
            && md5 != content_md5(&self.body)
        {
            net.bad_digest += 1;
            return fail("BadDigest", headers);
        }
        let body = match self.method {
            Method::Put => {
                let etag = format!("\"{}\"", lakenode::digest::md5_hex(&self.body));
                headers.push(("etag".into(), etag));
                net.objects.insert(path, std::mem::take(&mut self.body));
                Vec::new()
            }
            Method::Get => net.objects.get(&path).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        Response {
            status: 200,
            headers,
            body,
            read_at: 0,
        }
    }
}

impl EspClientCalls for FakeHandle {
    fn set_url(&mut self, url: &str) -> Result<(), String> {
        let new = url::Url::parse(url).map_err(|_| "ESP_ERR_INVALID_ARG")?;
        if new.host_str() != self.url.host_str() {
            // 1032-1044: Host without the port, and the connection closed.
            self.set_header("Host", new.host_str().unwrap())?;
            self.close();
        } else if new.port_or_known_default() != self.url.port_or_known_default() {
            self.close(); // 1068-1072
        }
        self.url = new;
        Ok(())
    }

    fn set_method(&mut self, method: Method) -> Result<(), String> {
        self.method = method;
        Ok(())
    }

    fn set_header(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        Ok(())
    }

    fn delete_header(&mut self, name: &str) -> Result<(), String> {
        // lib/http_header.c 138-150: ESP_ERR_NOT_FOUND when it is not there.
        let before = self.headers.len();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if self.headers.len() == before {
            return Err("ESP_ERR_NOT_FOUND".into());
        }
        Ok(())
    }

    fn open(&mut self, write_len: i32) -> Result<(), String> {
        if self.connected.is_some() && !self.is_complete_data_received() {
            self.desync = true; // the rest of the body is still on the connection
        }
        let mut net = self.net.borrow_mut();
        if self.connected.is_none() {
            net.connections += 1;
            let id = net.connections;
            match self.session {
                Some(ticket) if ticket >= net.tickets_valid_from => net.resumed_handshakes += 1,
                _ => net.full_handshakes += 1,
            }
            self.connected = Some(id);
            self.session = Some(id); // saved right after the handshake
            self.desync = false;
        } else if self.connected.is_some_and(|c| c < net.dropped_below) {
            // The request's head written to a connection the server closed: the write
            // fails, the client closes (esp_http_client_request_send).
            drop(net);
            self.close();
            return Err("ESP_ERR_HTTP_WRITE_DATA".into());
        }
        drop(net);
        let target = match self.url.query() {
            Some(q) => format!("{}?{q}", self.url.path()),
            None => self.url.path().to_owned(),
        };
        if format!("{:?} {target} HTTP/1.1\r\n", self.method).len() >= self.buffer_size_tx {
            return Err("ESP_FAIL: Out of buffer".into());
        }
        if write_len >= 0 {
            self.set_header("Content-Length", &write_len.to_string())?;
        }
        self.body.clear();
        self.response = None;
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, String> {
        if self.net.borrow().stall {
            return Ok(0);
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn fetch_headers(&mut self) -> Result<i64, String> {
        if self.net.borrow().stall || self.connected.is_none() {
            return Err("ESP_FAIL".into());
        }
        if self.desync {
            return Err("ESP_FAIL: the previous response's body parsed as a head".into());
        }
        let declared: usize = self.header("content-length").unwrap().parse().unwrap();
        assert_eq!(
            declared,
            self.body.len(),
            "the body sent is the length declared"
        );
        let response = self.answer();
        let len = response.body.len();
        self.response = Some(response);
        Ok(i64::try_from(len).unwrap())
    }

    fn status(&self) -> i32 {
        self.response.as_ref().map_or(-1, |r| r.status)
    }

    fn response_header(&self, name: &str) -> Option<&str> {
        let r = self.response.as_ref()?;
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        let r = self.response.as_mut().ok_or("ESP_FAIL")?;
        let n = buf.len().min(r.body.len() - r.read_at);
        buf[..n].copy_from_slice(&r.body[r.read_at..r.read_at + n]);
        r.read_at += n;
        Ok(n)
    }

    fn is_complete_data_received(&self) -> bool {
        self.response
            .as_ref()
            .is_none_or(|r| r.read_at == r.body.len())
    }

    fn close(&mut self) {
        self.connected = None;
        self.desync = false;
    }
}

/// A transport over fake handles on `net`, with the test's clock.
fn transport(net: &Rc<RefCell<Net>>) -> impl Transport + use<> {
    let make_net = Rc::clone(net);
    let clock_net = Rc::clone(net);
    KeptTransport::new(
        move |url: &str, size| Ok(FakeHandle::new(Rc::clone(&make_net), url, size)),
        move || clock_net.borrow().now_ms,
    )
}

fn client(endpoint: &str, token: Option<String>) -> S3Client {
    example::example_client(endpoint, token)
}

/// A window's two presigned PUTs (data and health), as the station signs them.
fn window(s3: &S3Client, n: u32) -> [HttpRequest; 2] {
    let station = example::station_id();
    let now: Timestamp = "2026-12-03T09:30:00Z".parse().unwrap();
    let key = |tree: &str| {
        format!(
            "raw/{tree}station={}/year=2026/month=12/day=03/data_{n:04}.parquet",
            station.as_str()
        )
    };
    [
        s3.put_object(&key(""), vec![n as u8; 3_946 + n as usize], now),
        s3.put_object(&key("health/"), vec![7; 2_914], now),
    ]
}

const AWS: &str = "https://s3.eu-central-1.amazonaws.com";

#[test]
fn a_batch_shares_one_connection_and_one_handshake() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client(AWS, None);
    // An hourly batch: four windows' files back to back.
    for n in 0..4 {
        for req in window(&s3, n) {
            assert!(req.header("content-md5").is_some());
            let reply = t.send(&req).unwrap();
            assert_eq!(
                reply.status,
                200,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            assert!(reply.header("etag").is_some());
        }
        net.borrow_mut().now_ms += 200;
    }
    let net = net.borrow();
    assert_eq!(net.objects.len(), 8);
    assert_eq!(
        (net.connections, net.full_handshakes, net.resumed_handshakes),
        (1, 1, 0)
    );
    assert_eq!((net.bad_digest, net.bad_host, net.handles), (0, 0, 1));
}

#[test]
fn windows_apart_resume_the_session_on_a_new_connection() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client(AWS, None);
    // Per-window uploads, 15 minutes apart: the idle connection is closed first.
    for n in 0..4 {
        for req in window(&s3, n) {
            assert_eq!(t.send(&req).unwrap().status, 200);
        }
        net.borrow_mut().now_ms += 15 * 60_000;
    }
    let n = net.borrow();
    assert_eq!(
        (n.connections, n.full_handshakes, n.resumed_handshakes),
        (4, 1, 3)
    );
    drop(n);
    // A server that no longer takes the ticket (expired): a full handshake, then the
    // new session is saved and resumed again.
    net.borrow_mut().tickets_valid_from = 100;
    for n in 4..6 {
        for req in window(&s3, n) {
            assert_eq!(t.send(&req).unwrap().status, 200);
        }
        net.borrow_mut().tickets_valid_from = 0;
        net.borrow_mut().now_ms += 15 * 60_000;
    }
    let n = net.borrow();
    assert_eq!(
        (n.connections, n.full_handshakes, n.resumed_handshakes),
        (6, 2, 4)
    );
    assert_eq!(n.handles, 1);
}

#[test]
fn a_connection_the_server_dropped_is_retried_once_resumed() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client(AWS, None);
    let [data, health] = window(&s3, 1);
    assert_eq!(t.send(&data).unwrap().status, 200);
    // Dropped by the server within the idle limit: the request fails on the kept
    // connection and goes again on a new one, with the saved session.
    net.borrow_mut().now_ms += IDLE_CLOSE_MS / 2;
    net.borrow_mut().dropped_below = 2;
    assert_eq!(t.send(&health).unwrap().status, 200);
    let n = net.borrow();
    assert_eq!(
        (n.connections, n.full_handshakes, n.resumed_handshakes),
        (2, 1, 1)
    );
    assert_eq!(n.objects.len(), 2);
}

#[test]
fn no_header_of_the_previous_request_reaches_the_next() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client(AWS, None);
    let [data, _] = window(&s3, 1);
    assert_eq!(t.send(&data).unwrap().status, 200);
    // A PUT without Content-MD5 (unsigned: a plain URL) on the same handle.
    let url = url::Url::parse(&format!("{AWS}/lake/raw/plain")).unwrap();
    let plain = HttpRequest::new(Method::Put, url, vec![1; 10]);
    assert_eq!(t.send(&plain).unwrap().status, 200);
    let n = net.borrow();
    assert_eq!(n.bad_digest, 0);
    let (path, headers) = n.seen.last().unwrap();
    assert_eq!(path, "/lake/raw/plain");
    assert!(!headers.iter().any(|h| h == "content-md5"), "{headers:?}");
    // Nor the client's own User-Agent, which S3 does not use.
    assert!(
        n.seen
            .iter()
            .all(|(_, h)| !h.iter().any(|h| h == "user-agent"))
    );
    assert_eq!(n.connections, 1);
}

#[test]
fn a_longer_request_line_gets_a_larger_handle() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let [short, _] = window(&client(AWS, None), 1);
    assert_eq!(t.send(&short).unwrap().status, 200);
    // Credentials with a long STS session token: the request line outgrows the handle's
    // buffer, so a new handle of the size the request needs (a full handshake again).
    let token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(200);
    let [long, _] = window(&client(AWS, Some(token)), 2);
    assert!(long.send_buffer_size() > short.send_buffer_size());
    assert_eq!(t.send(&long).unwrap().status, 200);
    assert_eq!(t.send(&short).unwrap().status, 200);
    let n = net.borrow();
    assert_eq!((n.handles, n.full_handshakes, n.connections), (2, 2, 2));
}

#[test]
fn an_unread_response_or_connection_close_ends_the_connection() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client(AWS, None);
    // A GET of an object larger than the response body send_over keeps.
    let url = url::Url::parse(&format!("{AWS}/lake/big")).unwrap();
    let big = HttpRequest::new(Method::Put, url.clone(), vec![3; 40_000]);
    assert_eq!(t.send(&big).unwrap().status, 200);
    let get = HttpRequest::new(Method::Get, url, Vec::new());
    let reply = t.send(&get).unwrap();
    assert!(reply.body.len() < 40_000);
    // The next request on a new (resumed) connection, not misparsed.
    let [data, health] = window(&s3, 1);
    assert_eq!(t.send(&data).unwrap().status, 200);
    net.borrow_mut().close_after_reply = true;
    assert_eq!(t.send(&health).unwrap().status, 200);
    assert_eq!(t.send(&data).unwrap().status, 200);
    let n = net.borrow();
    assert_eq!(
        (n.connections, n.full_handshakes, n.resumed_handshakes),
        (3, 1, 2)
    );
}

#[test]
fn a_stalled_write_fails_the_attempt_and_the_next_one_resumes() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client(AWS, None);
    let [data, health] = window(&s3, 1);
    assert_eq!(t.send(&data).unwrap().status, 200);
    net.borrow_mut().stall = true;
    let err = t.send(&health).unwrap_err();
    assert!(err.to_string().contains("stalled"), "{err}");
    net.borrow_mut().stall = false;
    assert_eq!(t.send(&health).unwrap().status, 200);
    let n = net.borrow();
    // The stalled attempt on the kept connection, its one retry, then the next send.
    assert_eq!(
        (n.connections, n.full_handshakes, n.resumed_handshakes),
        (3, 1, 2)
    );
}

#[test]
fn an_endpoint_on_its_own_port_gets_the_host_it_was_signed_for() {
    let net = Rc::new(RefCell::new(Net::default()));
    let mut t = transport(&net);
    let s3 = client("http://minio.local:9000", None);
    for n in 0..2 {
        for req in window(&s3, n) {
            assert_eq!(t.send(&req).unwrap().status, 200);
        }
    }
    assert_eq!(net.borrow().bad_host, 0);
    assert_eq!(net.borrow().objects.len(), 4);
}
