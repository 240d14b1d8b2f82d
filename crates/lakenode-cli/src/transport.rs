//! The host's HTTP transport for the core: `ureq` with rustls.
//!
//! Certificates are verified against the Mozilla roots built into the binary by default:
//! the same answer on every machine, whatever its trust store holds. A self-hosted store
//! behind a private CA is trusted with `--ca-file PEM` (that file only, like curl's
//! `--cacert`), or through the operating system's store with `--tls-roots system`
//! ([`Trust`]). Both are checked when the command starts, so a missing file or a file
//! with no certificate stops it before anything is sampled; a certificate the server
//! presents that the trusted roots do not accept is reported as a certificate problem
//! naming these options, not as a bare connection failure.
//!
//! Request bodies are given to ureq as a slice with the core's `Content-Length`, so
//! ureq never switches to chunked encoding; its output buffer is set to 8 KiB so the
//! body reaches the socket in writes of at most [`lakenode::transport::MAX_WRITE`].
//!
//! **On the air** (measured by `scripts/air-bench.sh`, docs/delivery.md): one agent
//! lives as long as the transport, and with it ureq's rustls `ClientConfig` and so
//! rustls's client session cache (256 sessions, in memory): after the first full
//! handshake, every new connection to the same host resumes the TLS session (TLS 1.3
//! tickets, TLS 1.2 tickets or session ids), skipping the certificate chain and its
//! verification; `tests/tls.rs` checks it against the embedded server. Keep the
//! transport (clone it, never rebuild it per request). Requests carry only `Host`,
//! `Content-Length`, `Content-MD5` and the presigned query; nothing ureq adds by default.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use ureq::config::AutoHeaderValue;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use lakenode::transport::{
    HttpRequest, HttpResponse, MAX_WRITE, Method, Transport, TransportError,
};

use crate::error::{CliError, CliResult};

/// Largest response body read (downloads of window files, error documents).
const MAX_RESPONSE_BODY: u64 = 64 * 1024 * 1024;

/// Largest `--ca-file` read (a full CA bundle is about 250 KiB).
const MAX_CA_FILE: u64 = 8 * 1024 * 1024;

/// The certificate authorities an https endpoint's certificate is checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The Mozilla roots built into the binary (`webpki-roots`).
    #[default]
    Bundled,
    /// The operating system's trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR` override it).
    System,
    /// Only the CA certificates in this PEM file.
    CaFile(PathBuf),
}

/// `--tls-roots`: the roots trusted when no `--ca-file` is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsRoots {
    /// Mozilla's roots, built into lakenode.
    #[default]
    Bundled,
    /// The operating system's trust store.
    System,
}

/// The https trust options of every command that talks to S3.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Trust only the CA certificate(s) in this PEM file for https: the private CA of a
    /// self-hosted MinIO, Garage or Ceph (instead of the --tls-roots).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// The roots https certificates are checked against without --ca-file: `bundled`
    /// (Mozilla's, built into lakenode) or `system` (the operating system's store, e.g.
    /// /etc/ssl/certs, with a private CA added by update-ca-certificates; SSL_CERT_FILE
    /// and SSL_CERT_DIR override it).
    #[arg(long, value_enum, default_value_t = TlsRoots::Bundled, conflicts_with = "ca_file")]
    pub tls_roots: TlsRoots,
}

impl TlsArgs {
    /// What the flags say to trust.
    #[must_use]
    pub fn trust(&self) -> Trust {
        match (&self.ca_file, self.tls_roots) {
            (Some(path), _) => Trust::CaFile(path.clone()),
            (None, TlsRoots::System) => Trust::System,
            (None, TlsRoots::Bundled) => Trust::Bundled,
        }
    }

    /// Whether any of the flags was changed from its default.
    #[must_use]
    pub fn given(&self) -> bool {
        self.trust() != Trust::Bundled
    }
}

impl Trust {
    /// The roots for ureq, loaded and checked now.
    ///
    /// # Errors
    /// [`CliError::Usage`] naming the option: an unreadable `--ca-file`, one without a
    /// certificate or with one that is not a usable CA certificate, or a system store
    /// with no certificate.
    pub fn root_certs(&self) -> CliResult<RootCerts> {
        match self {
            Self::Bundled => Ok(RootCerts::WebPki),
            Self::System => system_roots(),
            Self::CaFile(path) => ca_file_roots(path),
        }
    }

    /// What a certificate problem's hint says about the roots trusted.
    fn hint(&self) -> String {
        match self {
            Self::Bundled => "it is not signed by one of the bundled Mozilla roots: for a \
                              store with a private CA give its certificate with --ca-file PEM, \
                              or trust the system's roots with --tls-roots system"
                .to_owned(),
            Self::System => "it is not signed by a CA in the system's trust store \
                             (--tls-roots system): install the CA there, or give it with \
                             --ca-file PEM"
                .to_owned(),
            Self::CaFile(path) => format!(
                "it is not signed by a CA in --ca-file {} (give the CA that issued the \
                 server's certificate)",
                path.display()
            ),
        }
    }
}

/// The CA certificates of a PEM file, each checked as a trust anchor.
fn ca_file_roots(path: &Path) -> CliResult<RootCerts> {
    let fail = |what: String| CliError::Usage(format!("--ca-file {}: {what}", path.display()));
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE).read_to_end(&mut pem))
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM file: {e}")))?;
    if ders.is_empty() {
        return Err(fail(
            "no certificate in it (expected one or more -----BEGIN CERTIFICATE----- blocks)".into(),
        ));
    }
    let mut store = rustls::RootCertStore::empty();
    for (i, der) in ders.iter().enumerate() {
        store.add(der.clone()).map_err(|e| {
            fail(format!(
                "certificate {} of {} is not a usable CA certificate: {e}",
                i + 1,
                ders.len()
            ))
        })?;
    }
    Ok(ders
        .iter()
        .map(|d| Certificate::from_der(d.as_ref()).to_owned())
        .into())
}

/// The system's certificates as `rustls-native-certs` loads them, once `SSL_CERT_FILE`
/// is known to be a file of a CA bundle's size.
///
/// # Errors
/// [`CliError::Usage`] for an `SSL_CERT_FILE` that is not such a file.
pub(crate) fn native_certs() -> CliResult<rustls_native_certs::CertificateResult> {
    // rustls-native-certs reads SSL_CERT_FILE whole: /dev/zero or a FIFO there would
    // grow the process without end, so it must be a file of a CA bundle's size.
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let path = Path::new(&file);
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err(CliError::Usage(format!(
                    "--tls-roots system: SSL_CERT_FILE={} is not a regular file",
                    path.display()
                )));
            }
            Ok(m) if m.len() > MAX_CA_FILE => {
                return Err(CliError::Usage(format!(
                    "--tls-roots system: SSL_CERT_FILE={} is {} bytes, more than a CA \
                     bundle's {MAX_CA_FILE}",
                    path.display(),
                    m.len()
                )));
            }
            _ => {}
        }
    }
    Ok(rustls_native_certs::load_native_certs())
}

/// The operating system's trust store, as `rustls-native-certs` finds it. Where it
/// looked is named in every message: `SSL_CERT_FILE` / `SSL_CERT_DIR` replace the
/// system's own locations, and a typo there must be seen for what it is.
///
/// # Errors
/// [`CliError::Usage`] when no certificate was found, naming where it looked and why
/// each place failed. Some roots loaded while another place failed is a warning: the
/// roots that loaded are trusted, the missing ones are not.
fn system_roots() -> CliResult<RootCerts> {
    let found = native_certs()?;
    let looked = looked_for(
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    );
    let errors = found
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if found.certs.is_empty() {
        let why = if errors.is_empty() {
            "nothing there holds a certificate".to_owned()
        } else {
            errors
        };
        return Err(CliError::Usage(format!(
            "--tls-roots system: no CA certificate found in {looked} ({why}); install \
             ca-certificates, point SSL_CERT_FILE / SSL_CERT_DIR at a CA bundle or \
             directory that exists, or give --ca-file PEM"
        )));
    }
    if !errors.is_empty() {
        tracing::warn!(
            "--tls-roots system: {} CA certificate(s) loaded from {looked}, but not \
             everything there could be read ({errors}); servers signed by CAs only in \
             the missing places will not be trusted",
            found.certs.len()
        );
    }
    tracing::debug!("{} roots from {looked}", found.certs.len());
    Ok(found
        .certs
        .iter()
        .map(|d| Certificate::from_der(d.as_ref()).to_owned())
        .into())
}

/// Where `rustls-native-certs` looks, for messages: the variables that replace the
/// system's store when set (as it reads them: an empty `SSL_CERT_DIR` entry is skipped),
/// else the system's own locations.
fn looked_for(file: Option<std::ffi::OsString>, dirs: Option<std::ffi::OsString>) -> String {
    let mut places = Vec::new();
    if let Some(f) = file {
        places.push(format!("SSL_CERT_FILE={}", Path::new(&f).display()));
    }
    if let Some(d) = dirs.filter(|d| std::env::split_paths(d).any(|p| !p.as_os_str().is_empty())) {
        places.push(format!("SSL_CERT_DIR={}", Path::new(&d).display()));
    }
    if places.is_empty() {
        "the system's trust store (its usual locations, e.g. /etc/ssl/certs; neither \
         SSL_CERT_FILE nor SSL_CERT_DIR is set)"
            .to_owned()
    } else {
        places.join(" and ")
    }
}

/// A blocking HTTP(S) client with connection reuse.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    trust: Trust,
}

impl UreqTransport {
    /// A transport whose every request must finish within `timeout`, trusting the
    /// bundled roots.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self::build(timeout, Trust::Bundled, RootCerts::WebPki)
    }

    /// A transport trusting `trust` for https.
    ///
    /// # Errors
    /// As [`Trust::root_certs`].
    pub fn with_trust(timeout: Duration, trust: &Trust) -> CliResult<Self> {
        Ok(Self::build(timeout, trust.clone(), trust.root_certs()?))
    }

    fn build(timeout: Duration, trust: Trust, roots: RootCerts) -> Self {
        let config = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .output_buffer_size(MAX_WRITE)
            .max_redirects(0)
            // Only the headers S3 needs: ureq's `User-Agent` and `Accept: */*` (41 bytes
            // of every request on the air) are left out. S3 ignores both; the access key
            // already names the station in its logs (one IAM user per station).
            .user_agent(AutoHeaderValue::None)
            .accept(AutoHeaderValue::None)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            LiteralResolver::default(),
        );
        Self { agent, trust }
    }
}

/// The address of a URL whose host is an IP address (and its port, or the scheme's).
fn literal_addr(uri: &ureq::http::Uri) -> Option<std::net::SocketAddr> {
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().ok()?;
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some(std::net::SocketAddr::new(ip, port))
}

/// ureq's resolver, except for an endpoint given as an IP address (the embedded
/// server's `127.0.0.1:<port>`, a gateway's MinIO at `192.168.1.10:9000`): its address
/// is taken as it is. ureq's own resolver, with a timeout set, starts a thread for
/// every request to look up even an IP address (measured: one thread per upload and
/// per download in the demo).
#[derive(Debug, Default)]
struct LiteralResolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let literal = literal_addr(uri);
        match literal {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

impl Transport for UreqTransport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let result = match request.method {
            Method::Put | Method::Post => builder
                .body(request.body.as_slice())
                .map(|r| self.agent.run(r)),
            Method::Get | Method::Delete => builder.body(()).map(|r| self.agent.run(r)),
        };
        let mut response = result
            .map_err(|e| {
                TransportError::Refused(format!(
                    "invalid request for {}: {e}",
                    request.redacted_url()
                ))
            })?
            .map_err(|e| map_error(&e, request, &self.trust))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BODY)
            .read_to_end(&mut body)
            .map_err(|e| {
                TransportError::Io(format!(
                    "reading response from {}: {e}",
                    request.redacted_url()
                ))
            })?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The rustls error behind a ureq error (a handshake fails as an I/O error wrapping it).
fn rustls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// The message of a failed TLS handshake: a certificate problem says so, with what to
/// do about it.
fn tls_message(r: &rustls::Error, trust: &Trust) -> String {
    use rustls::CertificateError as C;
    match r {
        rustls::Error::InvalidCertificate(c) => {
            let hint = match c {
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "it is not issued for this endpoint's host name (check --endpoint)".to_owned()
                }
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet => {
                    "it is expired or not valid yet (check the server's certificate and this \
                     machine's clock)"
                        .to_owned()
                }
                _ => trust.hint(),
            };
            format!("TLS certificate problem: the server's certificate was refused ({r}): {hint}")
        }
        rustls::Error::NoCertificatesPresented => {
            "TLS certificate problem: the server presented no certificate".to_owned()
        }
        _ => format!("TLS handshake failed: {r} (is this an https endpoint?)"),
    }
}

/// Maps a ureq error, making sure no presigned query string (a short-lived bearer
/// credential) ends up in the message.
fn map_error(e: &ureq::Error, request: &HttpRequest, trust: &Trust) -> TransportError {
    let url = request.redacted_url();
    if let Some(r) = rustls_error(e) {
        return TransportError::Connect(format!("{url}: {}", tls_message(r, trust)));
    }
    let text = e.to_string().replace(request.url.as_str(), &url);
    let text = match text.find("X-Amz-") {
        Some(_) => format!(
            "{} (details withheld: they contained the signed URL)",
            error_kind(e)
        ),
        None => text,
    };
    let msg = format!("{url}: {text}");
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout(msg),
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => TransportError::Connect(msg),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportError::Connect(msg)
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            TransportError::Timeout(msg)
        }
        _ => TransportError::Io(msg),
    }
}

fn error_kind(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::Io(_) => "io error",
        _ => "request failed",
    }
}

/// Whether `url` points at this machine (plain http is only allowed there by default).
#[must_use]
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    use lakenode::digest::content_md5;
    use lakenode::s3::{Credentials, S3Client, S3Config};

    #[test]
    fn an_ip_endpoint_is_taken_as_it_is_and_a_name_is_left_to_the_resolver() {
        let addr = |url: &str| literal_addr(&url.parse().expect("uri"));
        let want = |a: &str| Some(a.parse::<std::net::SocketAddr>().expect("addr"));
        assert_eq!(addr("http://127.0.0.1:9000/lake/k"), want("127.0.0.1:9000"));
        assert_eq!(addr("https://[::1]/lake"), want("[::1]:443"));
        assert_eq!(addr("http://192.168.1.10/lake"), want("192.168.1.10:80"));
        assert_eq!(addr("http://localhost:9000/lake"), None);
        assert_eq!(addr("https://s3.example.com/lake"), None);
    }

    /// A path-style client for `endpoint` with AWS's example credentials.
    fn client_for(endpoint: &str) -> S3Client {
        let cfg = S3Config::new(endpoint, "lake", "us-east-1", true).expect("config");
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        );
        S3Client::new(&cfg, creds).expect("client")
    }

    /// Accepts one connection, records the raw request head and body, answers `reply`.
    fn capture_one(
        listener: TcpListener,
        reply: &'static str,
    ) -> std::thread::JoinHandle<(String, Vec<u8>)> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read head");
                head.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("read body");
            let mut stream = stream;
            stream.write_all(reply.as_bytes()).expect("reply");
            (head, body)
        })
    }

    #[test]
    fn put_on_the_wire_has_content_length_and_never_chunked_encoding() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let server = capture_one(
            listener,
            "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n",
        );

        let client = client_for(&endpoint);
        // Larger than one 8 KiB write, so the body goes out in several pieces.
        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let request = client.put_object(
            "station=s/data_0000.parquet",
            body.clone(),
            jiff::Timestamp::now(),
        );
        let response = UreqTransport::new(Duration::from_secs(10))
            .send(&request)
            .expect("response");
        assert_eq!(response.status, 200);

        let (head, received) = server.join().expect("server thread");
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.starts_with("put /lake/station%3ds/data_0000.parquet?"),
            "{head}"
        );
        assert_eq!(
            lower.matches("content-length: 20000\r\n").count(),
            1,
            "exactly one Content-Length: {head}"
        );
        assert!(!lower.contains("transfer-encoding"), "{head}");
        // Only what S3 needs (docs/delivery.md, "On the air"): no User-Agent, no Accept.
        let names: Vec<&str> = lower
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':').map(|(n, _)| n))
            .collect();
        assert_eq!(names.len(), 3, "{head}");
        for name in ["host", "content-length", "content-md5"] {
            assert!(names.contains(&name), "{name} missing: {head}");
        }
        assert!(
            lower.contains(&format!(
                "content-md5: {}\r\n",
                content_md5(&body).to_ascii_lowercase()
            )),
            "{head}"
        );
        assert_eq!(received, body);
    }

    #[test]
    fn connection_refused_is_a_transport_error_without_the_signature() {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let client = client_for(&format!("http://127.0.0.1:{port}"));
        let request = client.put_object("k.parquet", b"x".to_vec(), jiff::Timestamp::now());
        let err = UreqTransport::new(Duration::from_secs(5))
            .send(&request)
            .expect_err("nothing listens");
        assert!(
            matches!(err, TransportError::Connect(_) | TransportError::Io(_)),
            "{err:?}"
        );
        assert!(!err.to_string().contains("X-Amz-Signature"), "{err}");
    }

    #[test]
    fn a_ca_file_must_hold_usable_certificates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let load = |text: &str| {
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, text).expect("write");
            let trust = Trust::CaFile(path.clone());
            trust
                .root_certs()
                .map(|_| ())
                .map_err(|e| e.to_string().replace(&path.display().to_string(), "F"))
        };
        assert_eq!(
            load("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(
                "--ca-file F: no certificate in it (expected one or more -----BEGIN \
                 CERTIFICATE----- blocks)"
                    .into()
            )
        );
        let err = load("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .expect_err("not a certificate");
        assert!(
            err.starts_with("--ca-file F: certificate 1 of 1 is not a usable CA certificate"),
            "{err}"
        );
        let err = load("-----BEGIN CERTIFICATE-----\n!!!\n").expect_err("broken PEM");
        assert!(err.starts_with("--ca-file F: not a PEM file"), "{err}");
    }

    #[test]
    fn certificate_problems_say_what_is_trusted() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let text = tls_message(&unknown, &Trust::CaFile("/etc/lake-ca.pem".into()));
        assert!(
            text.starts_with("TLS certificate problem: ")
                && text.ends_with(
                    "it is not signed by a CA in --ca-file /etc/lake-ca.pem (give the CA \
                     that issued the server's certificate)"
                ),
            "{text}"
        );
        assert!(tls_message(&unknown, &Trust::System).contains("(--tls-roots system)"));
        let name = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert!(tls_message(&name, &Trust::Bundled).contains("check --endpoint"));
        let other = rustls::Error::General("x".into());
        assert!(tls_message(&other, &Trust::Bundled).starts_with("TLS handshake failed"));
    }

    #[test]
    fn the_trust_store_messages_name_where_it_looked() {
        assert_eq!(
            looked_for(Some("/x/ca.pem".into()), Some("/x/certs".into())),
            "SSL_CERT_FILE=/x/ca.pem and SSL_CERT_DIR=/x/certs"
        );
        // An empty SSL_CERT_DIR is no directory to rustls-native-certs.
        assert_eq!(
            looked_for(Some("/x/ca.pem".into()), Some("".into())),
            "SSL_CERT_FILE=/x/ca.pem"
        );
        assert!(looked_for(None, None).starts_with("the system's trust store"));
    }

    #[test]
    fn loopback_detection() {
        for (u, want) in [
            ("http://127.0.0.1:9000", true),
            ("http://[::1]:9000", true),
            ("http://localhost:9000", true),
            ("http://10.0.0.5:9000", false),
            ("https://s3.amazonaws.com", false),
        ] {
            assert_eq!(is_loopback(&url::Url::parse(u).expect("url")), want, "{u}");
        }
    }
}
