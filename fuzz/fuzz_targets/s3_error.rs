//! Any HTTP status and body from a server becomes a typed outcome, never a panic.
#![no_main]
use lakenode::digest::Md5Digest;
use lakenode::s3::{PutReply, check_response};
use lakenode::transport::HttpResponse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => (500, data),
    };
    let date = String::from_utf8_lossy(body.get(..40).unwrap_or(body)).into_owned();
    let etag = String::from_utf8_lossy(body.get(..34).unwrap_or(body)).into_owned();
    let response = HttpResponse {
        status,
        headers: vec![("date".into(), date), ("etag".into(), etag)],
        body: body.to_vec(),
    };
    let _ = check_response(&response);
    let md5 = Md5Digest::of(b"");
    let _ = PutReply::expecting(md5, false).interpret(&response);
    let _ = PutReply::expecting(md5, true).interpret(&response);
});
