//! The embedded S3 server as an attacker meets it (issue 11, item 3): raw requests
//! signed by an independent SigV4 implementation (curl's `--aws-sigv4`, with
//! `--path-as-is` so `..` reaches the server unchanged), not only lakenode's client.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use lakenode_embedded_s3::{EmbeddedS3, ServerConfig};

/// A signed request by curl; returns (HTTP status, body).
fn curl(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "--path-as-is", "-X", method, "-w", "\n%{http_code}"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3"])
        .args(["--user", &format!("{KEY}:{SECRET}")])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]);
    if let Some(b) = body {
        c.args(["--data-binary", b]);
    }
    let out = c
        .arg(url)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

/// Every file under `dir`, relative, sorted (the server's temp directory included).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn keys_with_dot_segments_and_unserved_buckets_are_refused_and_nothing_leaves_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s3 = EmbeddedS3::start(ServerConfig::new(&data, KEY, SECRET).with_bucket("lake")).unwrap();
    let base = s3.endpoint();

    let (code, _) = curl("PUT", &format!("{base}/lake/ok/f.txt"), Some("fine"));
    assert_eq!(code, 200);
    for (path, want_code, want) in [
        ("lake/x/../../notlake/f", 400, "InvalidArgument"),
        ("lake/../../f", 400, "InvalidArgument"),
        ("lake/../escape", 400, "InvalidArgument"),
        ("lake/a/./b", 400, "InvalidArgument"),
        ("lake//etc/passwd", 400, "InvalidArgument"),
        ("notthere/f", 404, "NoSuchBucket"),
        ("notthere", 403, "AccessDenied"), // CreateBucket
        ("lake", 403, "AccessDenied"),     // CreateBucket over the served one
    ] {
        let (code, body) = curl("PUT", &format!("{base}/{path}"), Some("evil"));
        assert_eq!(code, want_code, "{path}: {body}");
        assert!(body.contains(want), "{path}: {body}");
    }
    for (method, path, want) in [
        ("GET", "lake/ok/../ok/f.txt", "InvalidArgument"),
        ("GET", "notthere/f", "NoSuchBucket"),
        ("GET", "notthere?list-type=2", "NoSuchBucket"),
        ("DELETE", "lake/../lake/ok/f.txt", "InvalidArgument"),
        ("DELETE", "lake", "AccessDenied"),
    ] {
        let (code, body) = curl(method, &format!("{base}/{path}"), None);
        assert!(code >= 400, "{method} {path}: {code} {body}");
        assert!(body.contains(want), "{method} {path}: {body}");
    }
    // A copy whose source leaves the bucket.
    let out = Command::new("curl")
        .args(["-s", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3"])
        .args(["--user", &format!("{KEY}:{SECRET}")])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(["-H", "x-amz-copy-source: /lake/../../etc/hostname"])
        .arg(format!("{base}/lake/copied"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("InvalidArgument"), "{body}");

    // Unsigned requests are refused before anything else.
    let out = Command::new("curl")
        .args(["-s", "-X", "PUT", "--data-binary", "x"])
        .arg(format!("{base}/lake/anon"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("AccessDenied"));

    let (code, body) = curl("GET", &format!("{base}/lake/ok/f.txt"), None);
    assert_eq!((code, body.as_str()), (200, "fine"));
    drop(s3);
    // Only the served bucket and the server's (empty) temp directory exist; nothing
    // outside `data`.
    let all = files(&data);
    assert!(
        all.iter()
            .all(|f| f.starts_with("lake") || f.starts_with(".lakenode-s3")),
        "{all:?}"
    );
    assert!(
        !all.iter().any(|f| f.starts_with(".lakenode-s3/tmp/")),
        "{all:?}"
    );
    assert!(all.contains(&"lake/ok/f.txt".to_owned()), "{all:?}");
    assert_eq!(
        files(tmp.path())
            .iter()
            .filter(|f| !f.starts_with("data"))
            .count(),
        0
    );
}

#[test]
fn serve_listens_on_loopback_and_run_to_an_unserved_bucket_fails_without_creating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = lakenode_with_credentials()
        .args(["serve", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let spool = tmp.path().join("spool");
    let (out, _, stderr) = output(
        lakenode_with_credentials()
            .args([
                "run",
                "--endpoint",
                &endpoint,
                "--bucket",
                "notthere",
                "--path-style",
            ])
            .args(["--station", "0190f5c2-0000-7000-8000-000000000911"])
            .args([
                "--simulate",
                "1",
                "--start",
                "2026-11-20T00:00:00Z",
                "--duration",
                "15m",
            ])
            .arg("--spool")
            .arg(&spool),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
    assert!(!data.join("notthere").exists());
    assert!(data.join("lake").is_dir());
}
