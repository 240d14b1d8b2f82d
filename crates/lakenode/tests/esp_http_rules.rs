//! The core's `send_over` under esp_http_client's rules (see `esp_http/mod.rs`): what
//! the firmware's transport meets on the device and a PC's HTTP client hides.

#![allow(clippy::unwrap_used, missing_docs)] // a failed unwrap is a failed test

mod esp_http;
#[path = "support/example.rs"]
mod example;

use esp_http::{EspRulesConnection, Seen};
use jiff::Timestamp;
use lakenode::HttpRequest;
use lakenode::transport::send_over;

/// A presigned PUT of `body` to `endpoint`, signed with temporary credentials when
/// `token` is given.
fn presigned(endpoint: &str, token: Option<String>, body: Vec<u8>) -> HttpRequest {
    let client = example::example_client(endpoint, token);
    let station = example::station_id();
    let key = format!(
        "raw/station={}/year=2026/month=12/day=03/data_0915.parquet",
        station.as_str()
    );
    let now: Timestamp = "2026-12-03T09:30:00Z".parse().unwrap();
    client.put_object(&key, body, now)
}

/// An STS session token of the length AWS issues to roles (~1 KB and more).
fn session_token() -> String {
    "IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(40)
}

#[test]
fn a_session_token_request_needs_the_send_buffer_the_firmware_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let req = presigned(
        "https://s3.eu-central-1.amazonaws.com",
        Some(session_token()),
        vec![7; 4000],
    );
    let mut seen = Seen::default();
    // esp_http_client's default buffer: the request never leaves.
    let mut conn = EspRulesConnection::new(tmp.path().into(), None, &mut seen);
    let err = send_over(&mut conn, &req).unwrap_err();
    assert!(err.to_string().contains("Out of buffer"), "{err}");
    assert_eq!(seen.out_of_buffer, 1);
    // The buffer the firmware configures (`HttpRequest::send_buffer_size`).
    let mut conn =
        EspRulesConnection::new(tmp.path().into(), Some(req.send_buffer_size()), &mut seen);
    assert_eq!(send_over(&mut conn, &req).unwrap().status, 200);
    // Even long-term keys and a long prefix can pass the default 512 B.
    assert!(req.head_len() > 1_000, "{}", req.head_len());
}

#[test]
fn an_endpoint_on_its_own_port_gets_the_host_it_was_signed_for() {
    let tmp = tempfile::tempdir().unwrap();
    let req = presigned("http://minio.local:9000", None, vec![1; 100]);
    let mut seen = Seen::default();
    let mut conn = EspRulesConnection::new(tmp.path().into(), Some(4096), &mut seen);
    assert_eq!(send_over(&mut conn, &req).unwrap().status, 200);
    assert_eq!(seen.bad_host, 0);
    // What the client does with no `Host` of ours: the port is left out, and the
    // signature no longer matches.
    use embedded_svc::http::client::Connection as _;
    let mut conn = EspRulesConnection::new(tmp.path().into(), Some(4096), &mut seen);
    conn.initiate_request(
        embedded_svc::http::Method::Put,
        req.url.as_str(),
        &[("content-length", "100")],
    )
    .unwrap();
    conn.initiate_response().unwrap();
    assert_eq!(embedded_svc::http::Status::status(&conn), 403);
    assert_eq!(seen.bad_host, 1);
}

#[test]
fn a_stalled_socket_is_a_failed_attempt_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let req = presigned(
        "https://s3.eu-central-1.amazonaws.com",
        None,
        vec![1; 20_000],
    );
    let mut seen = Seen::default();
    let mut conn = EspRulesConnection::new(tmp.path().into(), Some(4096), &mut seen);
    conn.stall = true;
    let err = send_over(&mut conn, &req).unwrap_err();
    assert!(err.to_string().contains("stalled"), "{err}");
    assert_eq!(seen.stalled_writes, 1);
}

#[test]
fn every_put_carries_its_length_so_no_object_is_stored_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let req = presigned(
        "https://s3.eu-central-1.amazonaws.com",
        None,
        vec![9; 5_000],
    );
    let mut seen = Seen::default();
    let mut conn = EspRulesConnection::new(tmp.path().into(), Some(4096), &mut seen);
    assert_eq!(send_over(&mut conn, &req).unwrap().status, 200);
    assert_eq!(seen.empty_objects, 0);
    let stored: Vec<_> = walk(tmp.path());
    assert_eq!(stored.len(), 1);
    assert_eq!(std::fs::read(&stored[0]).unwrap().len(), 5_000);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
