//! A real, signature-checking S3 server embedded in the process, on loopback.
//!
//! `s3s` verifies AWS Signature V4 (403 `SignatureDoesNotMatch`), presigned URL expiry,
//! clock skew (403 `RequestTimeTooSkewed`); [`store`] checks `Content-MD5` (400
//! `BadDigest`) and stores each object as a plain file at `<data dir>/<bucket>/<key>`, so a
//! Hive-style lake written through it can be queried in place by DuckDB or Polars.
//!
//! It runs on its own thread with a small tokio runtime and stops when dropped. One
//! caveat, noted in docs/facts.md: it accepts a chunked PUT that AWS would refuse, so
//! lakenode's own tests check `Content-Length` on the wire separately.
//!
//! It speaks plain http, or https with a certificate and key from PEM files
//! ([`ServerConfig::with_tls`]; rustls with the ring provider, the one the CLI's client
//! already builds), so clients can be tried against a private CA. It counts the TLS
//! handshakes it completes, full and resumed ([`EmbeddedS3::tls_handshakes`]), and can
//! close connections idle between requests as S3 does
//! ([`ServerConfig::with_idle_timeout`]): together they show whether a client resumes
//! its TLS sessions.
//!
//! It is a test and demo server (threat model in SECURITY.md): it binds to loopback
//! unless told otherwise, serves only the buckets it is configured with (`NoSuchBucket`
//! for any other, which it never creates), and refuses keys that could leave their
//! bucket's directory ([`access`]). An access key may be given an IAM identity policy
//! ([`ServerConfig::with_policy`]); its requests are then answered `403 AccessDenied`
//! unless the policy allows them, as on AWS ([`policy`]).
//!
//! ```no_run
//! use lakenode_embedded_s3::{EmbeddedS3, ServerConfig};
//! let config = ServerConfig::new("/tmp/s3-data", "AKIAIOSFODNN7EXAMPLE", "secret").with_bucket("lake");
//! let server = EmbeddedS3::start(config)?;
//! println!("S3 at {}", server.endpoint());
//! # Ok::<(), lakenode_embedded_s3::Error>(())
//! ```
//!
//! A station key limited to its own tree, and an unrestricted key for reading back:
//!
//! ```no_run
//! use lakenode_embedded_s3::{EmbeddedS3, ServerConfig};
//! let station_policy = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//!   "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/station=x/*"}]}"#;
//! let config = ServerConfig::new("/tmp/s3-data", "AKIAIOSFODNN7EXAMPLE", "secret")
//!     .with_bucket("lake")
//!     .with_key("AKIAI44QH8DHBEXAMPLE", "admin-secret")
//!     .with_policy("AKIAIOSFODNN7EXAMPLE", station_policy);
//! let server = EmbeddedS3::start(config)?; // a malformed policy is refused here
//! # Ok::<(), lakenode_embedded_s3::Error>(())
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub mod access;
pub mod policy;
pub mod store;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created or opened.
    #[error("S3 data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The storage backend refused the directory.
    #[error("S3 storage backend: {0}")]
    Backend(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server thread could not start.
    #[error("S3 server thread: {0}")]
    Thread(String),
    /// A bucket name S3 would not accept, or no bucket at all.
    #[error("bucket {0:?}: {1}")]
    Bucket(String, &'static str),
    /// An access key given twice, or a policy for a key the server does not know.
    #[error("access key {0}: {1}")]
    AccessKey(String, &'static str),
    /// A TLS certificate or key file that cannot be read or used.
    #[error("TLS {what} {}: {message}", path.display())]
    Tls {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An IAM policy document that cannot be parsed or evaluated.
    #[error("IAM policy of access key {access_key}: {source}")]
    Policy {
        /// The key the policy was given for.
        access_key: String,
        /// What is wrong with it.
        source: policy::PolicyError,
    },
}

/// How to run the server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where buckets and objects are stored.
    pub data_dir: PathBuf,
    /// The access key accepted.
    pub access_key: String,
    /// Its secret.
    pub secret_key: String,
    /// More access keys accepted, with their secrets.
    pub more_keys: Vec<(String, String)>,
    /// IAM identity policies (JSON documents) by access key; a key without one may do
    /// anything in the served buckets.
    pub policies: BTreeMap<String, String>,
    /// Listening address; the default `127.0.0.1:0` takes a free port.
    pub addr: SocketAddr,
    /// The buckets served (created as directories at start); every other bucket
    /// answers `NoSuchBucket`.
    pub buckets: Vec<String>,
    /// Serve https with this certificate chain and key; plain http without.
    pub tls: Option<TlsFiles>,
    /// The server's region: requests signed for another one are refused, as AWS does
    /// (`AuthorizationHeaderMalformed`); any region without.
    pub region: Option<String>,
    /// Close a connection that has waited this long for its next request (as S3 closes
    /// idle connections after seconds); `None` leaves them to the client.
    pub idle_timeout: Option<std::time::Duration>,
}

/// A server certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (the server's certificate first, then intermediates).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The rustls acceptor for these files (ring provider, TLS 1.2 and 1.3).
    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, Error> {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let tls_error = |what, path: &Path, message: String| Error::Tls {
            what,
            path: path.to_path_buf(),
            message,
        };
        let cert_pem = std::fs::read(&self.cert)
            .map_err(|e| tls_error("certificate", &self.cert, e.to_string()))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error("certificate", &self.cert, format!("not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(tls_error(
                "certificate",
                &self.cert,
                "no CERTIFICATE block in the file".into(),
            ));
        }
        let key_pem =
            std::fs::read(&self.key).map_err(|e| tls_error("key", &self.key, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            tls_error(
                "key",
                &self.key,
                format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("certificate", &self.cert, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                tls_error(
                    "key",
                    &self.key,
                    format!("does not fit the certificate {}: {e}", self.cert.display()),
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "more_keys",
                &self.more_keys.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .field("addr", &self.addr)
            .field("buckets", &self.buckets)
            .field("tls", &self.tls)
            .field("region", &self.region)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl ServerConfig {
    /// A loopback server with a random port and no bucket yet (add one with
    /// [`ServerConfig::with_bucket`]).
    #[must_use]
    pub fn new(
        data_dir: impl Into<PathBuf>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            more_keys: Vec::new(),
            policies: BTreeMap::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            buckets: Vec::new(),
            tls: None,
            region: None,
            idle_timeout: None,
        }
    }

    /// Accepts only requests signed for `region` (AWS refuses a signature made for
    /// another region of the bucket).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Closes connections idle for `timeout` between requests, as S3 does (its exact
    /// delay is not published; seconds, not minutes). Lets a client's reconnects and TLS
    /// session resumption be measured.
    #[must_use]
    pub const fn with_idle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Serves https with the PEM certificate chain `cert` and private key `key`
    /// (checked when the server starts).
    #[must_use]
    pub fn with_tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Serves `bucket` as well.
    #[must_use]
    pub fn with_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.buckets.push(bucket.into());
        self
    }

    /// Accepts `access_key` with `secret_key` as well.
    #[must_use]
    pub fn with_key(
        mut self,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        self.more_keys.push((access_key.into(), secret_key.into()));
        self
    }

    /// Limits `access_key` to what the IAM identity policy `policy_json` allows (it
    /// replaces an earlier one); checked when the server starts.
    #[must_use]
    pub fn with_policy(
        mut self,
        access_key: impl Into<String>,
        policy_json: impl Into<String>,
    ) -> Self {
        self.policies.insert(access_key.into(), policy_json.into());
        self
    }

    /// The authentication of every configured key.
    fn auth(&self) -> Result<SimpleAuth, Error> {
        let mut auth = SimpleAuth::new();
        let keys = std::iter::once((&self.access_key, &self.secret_key))
            .chain(self.more_keys.iter().map(|(k, s)| (k, s)));
        for (key, secret) in keys {
            if auth.register(key.clone(), secret.clone().into()).is_some() {
                return Err(Error::AccessKey(key.clone(), "given more than once"));
            }
        }
        Ok(auth)
    }

    /// The parsed policies; each must name a configured key.
    fn parsed_policies(
        &self,
        auth: &SimpleAuth,
    ) -> Result<BTreeMap<String, policy::IdentityPolicy>, Error> {
        let mut out = BTreeMap::new();
        for (key, json) in &self.policies {
            if auth.lookup(key).is_none() {
                return Err(Error::AccessKey(
                    key.clone(),
                    "has an IAM policy but is not a key of this server",
                ));
            }
            let parsed = policy::IdentityPolicy::parse(json).map_err(|source| Error::Policy {
                access_key: key.clone(),
                source,
            })?;
            out.insert(key.clone(), parsed);
        }
        Ok(out)
    }
}

/// TLS handshakes completed by a server, by kind (rustls's `handshake_kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsHandshakes {
    /// Full handshakes: the certificate chain was sent and verified.
    pub full: u64,
    /// Resumed sessions (a ticket or session id the client kept).
    pub resumed: u64,
}

#[derive(Debug, Default)]
struct HandshakeCounters {
    full: std::sync::atomic::AtomicU64,
    resumed: std::sync::atomic::AtomicU64,
}

impl HandshakeCounters {
    fn count(&self, kind: Option<rustls::HandshakeKind>) {
        use std::sync::atomic::Ordering::Relaxed;
        match kind {
            Some(rustls::HandshakeKind::Resumed) => self.resumed.fetch_add(1, Relaxed),
            _ => self.full.fetch_add(1, Relaxed),
        };
    }
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct EmbeddedS3 {
    addr: SocketAddr,
    https: bool,
    handshakes: Arc<HandshakeCounters>,
    data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Starts the server and waits until it listens.
    ///
    /// # Errors
    /// [`Error`] if the data directory, the port or the runtime is unavailable.
    pub fn start(config: ServerConfig) -> Result<Self, Error> {
        if config.buckets.is_empty() {
            return Err(Error::Bucket(String::new(), "no bucket to serve"));
        }
        let auth = config.auth()?;
        let policies = config.parsed_policies(&auth)?;
        let acceptor = config.tls.as_ref().map(TlsFiles::acceptor).transpose()?;
        let https = acceptor.is_some();
        for bucket in &config.buckets {
            if !s3s::path::check_bucket_name(bucket) {
                return Err(Error::Bucket(
                    bucket.clone(),
                    "not a valid S3 bucket name (3-63 of a-z 0-9 . -)",
                ));
            }
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let data_dir = config
            .data_dir
            .canonicalize()
            .map_err(|source| Error::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        for bucket in &config.buckets {
            let dir = data_dir.join(bucket);
            std::fs::create_dir_all(&dir).map_err(|source| Error::DataDir { path: dir, source })?;
        }
        let store = store::Store::new(&data_dir).map_err(|e| Error::Backend(e.to_string()))?;
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(auth);
        builder.set_access(
            access::ServedBuckets::new(config.buckets.clone())
                .with_policies(policies)
                .with_region(config.region.clone()),
        );
        let service = builder.build();

        let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, Error>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let addr = config.addr;
        let idle_timeout = config.idle_timeout;
        let handshakes = Arc::new(HandshakeCounters::default());
        let counters = Arc::clone(&handshakes);
        let thread = std::thread::Builder::new()
            .name("embedded-s3".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("embedded-s3-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::Thread(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match TcpListener::bind(addr).await {
                        Ok(l) => l,
                        Err(source) => {
                            let _ = ready_tx.send(Err(Error::Bind { addr, source }));
                            return;
                        }
                    };
                    let local = listener.local_addr().unwrap_or(addr);
                    let _ = ready_tx.send(Ok(local));
                    let mut http = ConnBuilder::new(TokioExecutor::new());
                    if let Some(idle) = idle_timeout {
                        // hyper arms this timer whenever a connection waits for the head
                        // of its next request, so it is an idle timeout: the connection is
                        // closed (no reply is written) when it expires.
                        http.http1()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(idle);
                    }
                    let http = http;
                    let mut shutdown_rx = shutdown_rx;
                    loop {
                        let socket = tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok((socket, _)) => {
                                    // Without it, a reply written in two segments waits
                                    // for the client's delayed ACK: 40 ms per request.
                                    let _ = socket.set_nodelay(true);
                                    socket
                                }
                                Err(e) => {
                                    tracing::warn!("embedded S3: accept failed: {e}");
                                    continue;
                                }
                            },
                            _ = &mut shutdown_rx => break,
                        };
                        let http = http.clone();
                        let service = service.clone();
                        let acceptor = acceptor.clone();
                        let counters = Arc::clone(&counters);
                        // A client that disconnects mid-request, or fails the handshake
                        // (it does not trust the certificate), is not the server's problem.
                        tokio::spawn(async move {
                            match acceptor {
                                None => {
                                    let _ =
                                        http.serve_connection(TokioIo::new(socket), service).await;
                                }
                                Some(acceptor) => match acceptor.accept(socket).await {
                                    Ok(tls) => {
                                        counters.count(tls.get_ref().1.handshake_kind());
                                        let _ =
                                            http.serve_connection(TokioIo::new(tls), service).await;
                                    }
                                    Err(e) => tracing::debug!("embedded S3: TLS handshake: {e}"),
                                },
                            }
                        });
                    }
                });
                // Dropping the runtime cancels connections still open.
                runtime.shutdown_background();
            })
            .map_err(|e| Error::Thread(e.to_string()))?;

        let addr = ready_rx
            .recv()
            .map_err(|_| Error::Thread("server thread ended before listening".into()))??;
        Ok(Self {
            addr,
            https,
            handshakes,
            data_dir,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    #[must_use]
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234`, or `https://...` with TLS (use
    /// path-style requests).
    #[must_use]
    pub fn endpoint(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The TLS handshakes completed so far, full and resumed (https only).
    #[must_use]
    pub fn tls_handshakes(&self) -> TlsHandshakes {
        use std::sync::atomic::Ordering::Relaxed;
        TlsHandshakes {
            full: self.handshakes.full.load(Relaxed),
            resumed: self.handshakes.resumed.load(Relaxed),
        }
    }

    /// The directory holding buckets (`<data dir>/<bucket>/<key>`), canonicalized.
    #[must_use]
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn config(dir: &tempfile::TempDir) -> ServerConfig {
        ServerConfig::new(dir.path(), KEY, SECRET).with_bucket("lake")
    }

    #[test]
    fn a_malformed_policy_or_an_unknown_key_is_a_startup_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = || config(&dir);
        let err =
            EmbeddedS3::start(config().with_policy(KEY, r#"{"Statement": [{"Effect": "Allow""#))
                .expect_err("malformed");
        let text = err.to_string();
        assert!(
            matches!(err, Error::Policy { .. })
                && text.starts_with(&format!(
                    "IAM policy of access key {KEY}: not an IAM policy document"
                )),
            "{text}"
        );
        let err = EmbeddedS3::start(config().with_policy("AKIAI44QH8DHBEXAMPLE", "{}"))
            .expect_err("unknown key");
        assert_eq!(
            err.to_string(),
            "access key AKIAI44QH8DHBEXAMPLE: has an IAM policy but is not a key of this server"
        );
        let err = EmbeddedS3::start(config().with_key(KEY, "another")).expect_err("twice");
        assert_eq!(
            err.to_string(),
            format!("access key {KEY}: given more than once")
        );
        // A well-formed policy for a second key starts.
        let server = EmbeddedS3::start(
            config()
                .with_key("AKIAI44QH8DHBEXAMPLE", SECRET)
                .with_policy(
                    "AKIAI44QH8DHBEXAMPLE",
                    r#"{"Statement": {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}}"#,
                ),
        )
        .expect("starts");
        server.stop();
    }

    /// A private CA and a certificate it signs for 127.0.0.1 and localhost, as PEM:
    /// (CA certificate, server certificate, server key).
    fn private_pki(ca_name: &str) -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).expect("CA certificate").pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &issuer)
            .expect("server certificate");
        (ca_pem, cert.pem(), key.serialize_pem())
    }

    /// One GET over TLS trusting only `ca_pem`: the response's head, or the TLS error.
    fn https_get(addr: SocketAddr, ca_pem: &str) -> Result<String, std::io::Error> {
        use rustls_pki_types::pem::PemObject as _;
        use std::io::{Read as _, Write as _};
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("PEM")).expect("CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let socket = std::net::TcpStream::connect(addr)?;
        let mut tls = rustls::StreamOwned::new(conn, socket);
        tls.write_all(b"GET /lake HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply)?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }

    #[test]
    fn serves_https_to_a_client_that_trusts_its_ca_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, cert, key) = private_pki("test CA");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert).expect("write");
        std::fs::write(&key_path, key).expect("write");
        let server = EmbeddedS3::start(config(&dir).with_tls(&cert_path, &key_path))
            .expect("starts with TLS");
        assert!(server.endpoint().starts_with("https://127.0.0.1:"));
        // An unsigned request: S3's own answer, over TLS.
        let reply = https_get(server.addr(), &ca).expect("TLS request");
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        assert!(reply.contains("<Code>"), "{reply}");
        // A client trusting another CA refuses the handshake.
        let (other_ca, _, _) = private_pki("another CA");
        let err = https_get(server.addr(), &other_ca).expect_err("unknown issuer");
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        server.stop();
    }

    #[test]
    fn unusable_certificate_or_key_files_are_startup_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, cert, key) = private_pki("test CA");
        let (_, _, other_key) = private_pki("another CA");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let (cert, key, other_key, ca, empty) = (
            write("cert.pem", &cert),
            write("key.pem", &key),
            write("other-key.pem", &other_key),
            write("ca.pem", &ca),
            write("empty.pem", "not PEM at all\n"),
        );
        let start = |c: &Path, k: &Path| {
            EmbeddedS3::start(config(&dir).with_tls(c, k))
                .expect_err("refused")
                .to_string()
        };
        let missing = dir.path().join("missing.pem");
        let text = start(&missing, &key);
        assert!(
            text.starts_with(&format!("TLS certificate {}: ", missing.display())),
            "{text}"
        );
        let text = start(&empty, &key);
        assert!(text.ends_with("no CERTIFICATE block in the file"), "{text}");
        let text = start(&cert, &ca);
        assert!(
            text.starts_with(&format!(
                "TLS key {}: no usable PEM private key",
                ca.display()
            )),
            "{text}"
        );
        let text = start(&cert, &other_key);
        assert!(text.contains("does not fit the certificate"), "{text}");
    }
}
