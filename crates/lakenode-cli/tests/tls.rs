//! https on loopback with a private CA (rcgen, made per test): `run`, `compact` and
//! `report` trust it with `--ca-file` (or the system's roots with `--tls-roots system`);
//! without it a run fails with a certificate error naming the option, exit 4, and its
//! files stay in the spool. `serve --tls-cert/--tls-key` serves https.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;

const STATION: &str = "0190f5c2-0000-7000-8000-0000000000e1";
const DAY: &str = "year=2026/month=11/day=20";

/// A private CA and a server certificate it signs for 127.0.0.1 and localhost, written
/// to `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn private_pki(dir: &Path, ca_name: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    std::fs::write(&pki.ca, ca_pem).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

/// The embedded server over https with `pki`'s certificate.
fn https_server(dir: &Path, pki: &Pki) -> lakenode_embedded_s3::EmbeddedS3 {
    let server = lakenode_embedded_s3::EmbeddedS3::start(
        lakenode_embedded_s3::ServerConfig::new(dir, KEY, SECRET)
            .with_bucket("lake")
            .with_tls(&pki.cert, &pki.key),
    )
    .unwrap();
    assert!(server.endpoint().starts_with("https://127.0.0.1:"));
    server
}

/// One hour of 1-minute samples from 2026-11-20T00:00Z: four 15-minute windows.
fn hour_csv(dir: &Path) -> PathBuf {
    let mut text = String::from("timestamp,temperature\n");
    for i in 0..60 {
        text.push_str(&format!(
            "{},{}.5\n",
            1_795_132_800_000_i64 + i * 60_000,
            20 + i % 3
        ));
    }
    let path = dir.join("hour.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// The Parquet files of the station's day in the bucket.
fn day_files(s3: &lakenode_embedded_s3::EmbeddedS3) -> Vec<PathBuf> {
    let dir = s3.data_dir().join(format!("lake/station={STATION}/{DAY}"));
    if dir.is_dir() {
        files_with_extension(&dir, "parquet")
    } else {
        Vec::new()
    }
}

/// The sealed windows waiting in the spool (entries `*.lks`).
fn spooled(spool: &Path) -> usize {
    files_with_extension(spool, "lks").len()
}

/// `--endpoint E --bucket lake --path-style` for `compact` and `report`.
fn lake_flags(endpoint: &str) -> Vec<String> {
    ["--endpoint", endpoint, "--bucket", "lake", "--path-style"]
        .map(String::from)
        .to_vec()
}

#[test]
fn run_compact_and_report_work_over_https_with_the_private_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "lakenode test CA");
    let s3 = https_server(&tmp.path().join("s3"), &pki);
    let csv = hour_csv(tmp.path());
    success(
        run_to(&s3.endpoint(), STATION, &tmp.path().join("spool"))
            .arg("--csv")
            .arg(&csv)
            .arg("--ca-file")
            .arg(&pki.ca),
    );
    assert_eq!(day_files(&s3).len(), 4, "four windows delivered over https");

    // The same day read back and rewritten over https.
    let out = success(
        lakenode_with_credentials()
            .arg("compact")
            .args(lake_flags(&s3.endpoint()))
            .args(["--before", "2026-11-22", "--ca-file"])
            .arg(&pki.ca),
    );
    assert_eq!(day_files(&s3).len(), 1, "one compacted file: {out}");

    let page = tmp.path().join("report.html");
    let (o, stdout, stderr) = output(
        lakenode_with_credentials()
            .arg("report")
            .args(lake_flags(&s3.endpoint()))
            .args(["--at", "2026-11-20T01:00:00Z", "--ca-file"])
            .arg(&pki.ca)
            .arg("--out")
            .arg(&page),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 station"), "{stdout}");
    assert!(std::fs::read_to_string(&page).unwrap().contains(STATION));

    // Without the CA, report refuses the server's certificate (and says what to do).
    let (o, _, stderr) = output(
        lakenode_with_credentials()
            .arg("report")
            .args(lake_flags(&s3.endpoint()))
            .arg("--out")
            .arg(&page),
    );
    assert_ne!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("TLS certificate problem") && stderr.contains("--ca-file PEM"),
        "{stderr}"
    );
    // The trust options are for an S3 lake only.
    let (o, _, stderr) = output(
        lakenode()
            .args(["report", "--lake"])
            .arg(tmp.path())
            .arg("--ca-file")
            .arg(&pki.ca),
    );
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not --lake"), "{stderr}");
}

#[test]
fn without_the_ca_a_run_fails_on_the_certificate_and_keeps_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "lakenode test CA");
    let other = private_pki(&tmp.path().join("other"), "another CA");
    let s3 = https_server(&tmp.path().join("s3"), &pki);
    let csv = hour_csv(tmp.path());
    let spool = tmp.path().join("spool");
    let run = |extra: &[&std::ffi::OsStr]| {
        output(
            run_to(&s3.endpoint(), STATION, &spool)
                .arg("--csv")
                .arg(&csv)
                .args(["--give-up-after", "2s"])
                .args(extra),
        )
    };

    // The bundled roots do not know the private CA: exit 4, a certificate error naming
    // the options, every window still in the spool.
    let (o, _, stderr) = run(&[]);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("TLS certificate problem")
            && stderr.contains("not signed by one of the bundled Mozilla roots")
            && stderr.contains("--ca-file PEM")
            && stderr.contains("--tls-roots system"),
        "{stderr}"
    );
    assert!(!stderr.contains("X-Amz-Signature"), "{stderr}");
    assert!(day_files(&s3).is_empty());
    assert_eq!(spooled(&spool), 4, "the spool keeps the four windows");

    // Another CA's file: the message names that file.
    let (o, _, stderr) = run(&["--ca-file".as_ref(), other.ca.as_os_str()]);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "not signed by a CA in --ca-file {}",
            other.ca.display()
        )),
        "{stderr}"
    );
    assert_eq!(spooled(&spool), 4);

    // With the right CA the same spool delivers everything.
    let (o, _, stderr) = run(&["--ca-file".as_ref(), pki.ca.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert_eq!(day_files(&s3).len(), 4);
    assert_eq!(spooled(&spool), 0);
}

#[test]
fn the_system_roots_are_used_with_tls_roots_system() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "lakenode test CA");
    let s3 = https_server(&tmp.path().join("s3"), &pki);
    let csv = hour_csv(tmp.path());
    // SSL_CERT_FILE replaces the system's store: here it holds only the private CA.
    success(
        run_to(&s3.endpoint(), STATION, &tmp.path().join("spool"))
            .arg("--csv")
            .arg(&csv)
            .args(["--tls-roots", "system"])
            .env("SSL_CERT_FILE", &pki.ca)
            .env_remove("SSL_CERT_DIR"),
    );
    assert_eq!(day_files(&s3).len(), 4);
}

#[test]
fn a_system_store_pointing_nowhere_is_refused_and_one_half_found_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "lakenode test CA");
    let s3 = https_server(&tmp.path().join("s3"), &pki);
    let csv = hour_csv(tmp.path());
    let spool = tmp.path().join("spool");
    let missing = tmp.path().join("missing.pem");
    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing_dir = tmp.path().join("no-certs");
    let flags = lake_flags(&s3.endpoint());
    // Nothing found: refused before anything is read or recorded, naming the place.
    for (file, why) in [
        (&missing, "No such file or directory"),
        (&empty, "nothing there holds a certificate"),
    ] {
        let want = format!(
            "--tls-roots system: no CA certificate found in SSL_CERT_FILE={}",
            file.display()
        );
        let mut run = run_to(&s3.endpoint(), STATION, &spool);
        run.arg("--csv").arg(&csv);
        let mut compact = lakenode_with_credentials();
        compact.arg("compact").args(&flags);
        let mut report = lakenode_with_credentials();
        report
            .arg("report")
            .args(&flags)
            .arg("--out")
            .arg(tmp.path().join("r.html"));
        // `run` exits 2 (a setting that can never work), compact and report 1, as for
        // a bad --ca-file.
        for (cmd, code) in [(&mut run, 2), (&mut compact, 1), (&mut report, 1)] {
            let (o, _, stderr) = output(
                cmd.args(["--tls-roots", "system"])
                    .env("SSL_CERT_FILE", file)
                    .env_remove("SSL_CERT_DIR"),
            );
            assert_eq!(o.status.code(), Some(code), "{stderr}");
            assert!(
                stderr.contains(&want) && stderr.contains(why) && stderr.contains("--ca-file"),
                "{stderr}"
            );
        }
        assert_eq!(spooled(&spool), 0, "nothing recorded");
        assert!(!tmp.path().join("r.html").exists());
    }
    // A device there was read whole: /dev/zero grew the process by gigabytes.
    let (o, _, stderr) = output(
        run_to(&s3.endpoint(), STATION, &spool)
            .arg("--csv")
            .arg(&csv)
            .args(["--tls-roots", "system"])
            .env("SSL_CERT_FILE", "/dev/zero")
            .env_remove("SSL_CERT_DIR"),
    );
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("SSL_CERT_FILE=/dev/zero is not a regular file"),
        "{stderr}"
    );
    // The CA found in SSL_CERT_FILE, SSL_CERT_DIR missing: a warning naming it, and the
    // run goes on with the roots found.
    let (o, _, stderr) = output(
        run_to(&s3.endpoint(), STATION, &spool)
            .arg("--csv")
            .arg(&csv)
            .args(["--tls-roots", "system"])
            .env("SSL_CERT_FILE", &pki.ca)
            .env("SSL_CERT_DIR", &missing_dir),
    );
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--tls-roots system: 1 CA certificate(s) loaded from SSL_CERT_FILE={} and \
             SSL_CERT_DIR={}, but not everything there could be read",
            pki.ca.display(),
            missing_dir.display()
        )),
        "{stderr}"
    );
    assert_eq!(day_files(&s3).len(), 4);
}

#[test]
fn unusable_ca_files_are_refused_before_anything_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "lakenode test CA");
    let s3 = https_server(&tmp.path().join("s3"), &pki);
    let csv = hour_csv(tmp.path());
    let spool = tmp.path().join("spool");
    let missing = tmp.path().join("missing.pem");
    let cases: [(&Path, &str); 3] = [
        (&missing, "cannot read it"),
        // A key file holds no certificate.
        (&pki.key, "no certificate in it"),
        (tmp.path(), "cannot read it"),
    ];
    for (file, want) in cases {
        let (o, _, stderr) = output(
            run_to(&s3.endpoint(), STATION, &spool)
                .arg("--csv")
                .arg(&csv)
                .arg("--ca-file")
                .arg(file),
        );
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("--ca-file {}: {want}", file.display())),
            "{stderr}"
        );
        assert_eq!(spooled(&spool), 0, "nothing recorded");
    }
    // --ca-file and --tls-roots contradict each other.
    let (o, _, stderr) = output(
        run_to(&s3.endpoint(), STATION, &spool)
            .arg("--csv")
            .arg(&csv)
            .arg("--ca-file")
            .arg(&pki.ca)
            .args(["--tls-roots", "system"]),
    );
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(day_files(&s3).is_empty());
}

#[test]
fn serve_with_tls_cert_and_key_serves_https() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "lakenode test CA");
    let mut child = lakenode_with_credentials()
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("s3"))
        .arg("--tls-cert")
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let delivered = endpoint.as_deref().map(|endpoint| {
        output(
            run_to(endpoint, STATION, &tmp.path().join("spool"))
                .arg("--csv")
                .arg(hour_csv(tmp.path()))
                .arg("--ca-file")
                .arg(&pki.ca),
        )
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let endpoint = endpoint.unwrap_or_else(|| panic!("no address line: {line:?}"));
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let (o, _, stderr) = delivered.unwrap();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let dir = tmp.path().join(format!("s3/lake/station={STATION}/{DAY}"));
    assert_eq!(files_with_extension(&dir, "parquet").len(), 4);

    // A key that does not fit the certificate stops serve at start, naming the flag.
    let other = private_pki(&tmp.path().join("other"), "another CA");
    let (o, _, stderr) = output(
        lakenode_with_credentials()
            .args(["serve", "--data-dir"])
            .arg(tmp.path().join("s3"))
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&other.key),
    );
    assert_ne!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("--tls-key: TLS key") && stderr.contains("does not fit the certificate"),
        "{stderr}"
    );
}

/// The host transport keeps its TLS session for its lifetime: once the server has closed
/// an idle connection (as S3 does between windows), the next connection resumes the
/// session (no certificate chain, no signature to verify) instead of a full handshake.
/// Counted by the server from rustls's handshake kind.
#[test]
fn a_new_connection_of_the_host_transport_resumes_the_tls_session() {
    use lakenode::Transport as _;
    use lakenode_cli::transport::{Trust, UreqTransport};
    use lakenode_embedded_s3::{EmbeddedS3, ServerConfig, TlsHandshakes};
    use std::time::Duration;

    let tmp = tempfile::tempdir().unwrap();
    let pki = private_pki(&tmp.path().join("pki"), "resumption CA");
    let s3 = EmbeddedS3::start(
        ServerConfig::new(tmp.path().join("s3"), KEY, SECRET)
            .with_bucket("lake")
            .with_tls(&pki.cert, &pki.key)
            .with_idle_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let client = s3_client(&s3.endpoint(), KEY, SECRET);
    let mut transport =
        UreqTransport::with_trust(Duration::from_secs(10), &Trust::CaFile(pki.ca.clone())).unwrap();
    for i in 0..3 {
        let request = client.put_object(
            &format!("station={STATION}/data_{i}.parquet"),
            b"PAR1".to_vec(),
            jiff::Timestamp::now(),
        );
        assert_eq!(transport.send(&request).unwrap().status, 200);
        // Longer than the server's idle timeout: the next request needs a new connection.
        std::thread::sleep(Duration::from_millis(600));
    }
    assert_eq!(
        s3.tls_handshakes(),
        TlsHandshakes {
            full: 1,
            resumed: 2
        }
    );
}
