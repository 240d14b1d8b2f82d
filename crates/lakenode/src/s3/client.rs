//! Presigned requests built with `rusty-s3`, one action per S3 operation; a PUT owns
//! both its request and its reply ([`PutObject`], [`PutReply`]), as `rusty-s3`'s
//! actions do.
//!
//! Every PUT carries `Content-Length` and a signed `Content-MD5`: S3 verifies the body
//! against it and answers `400 BadDigest` on a mismatch, so a stored object is exactly
//! the bytes the node spooled. The same digest, computed once per attempt, is the
//! `ETag` the reply must carry for the object to count as stored. URLs are signed just
//! before each attempt and expire after [`DEFAULT_EXPIRY`].
//!
//! ```
//! use lakenode::s3::{Credentials, PutObject, PutOutcome, S3Client, S3Config};
//! use lakenode::transport::HttpResponse;
//!
//! let config = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)?;
//! let creds = Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None);
//! let client = S3Client::new(&config, creds)?;
//! let now = "2026-01-01T00:00:00Z".parse()?;
//! let (req, reply) = PutObject::new("station=a/data_0000.parquet", b"PAR1".to_vec()).sign(&client, now);
//! assert_eq!(req.header("content-length"), Some("4"));
//! assert!(req.url.as_str().contains("X-Amz-SignedHeaders=content-md5%3Bhost"));
//! // S3's answer carries the body's MD5 as its ETag: the object is stored.
//! let etag = format!("\"{}\"", reply.expected_etag());
//! let ok = HttpResponse { status: 200, headers: vec![("ETag".into(), etag)], body: vec![] };
//! assert!(matches!(reply.interpret(&ok), PutOutcome::Stored { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rusty_s3::{S3Action as _, UrlStyle};

use super::{CredentialSource, Credentials, S3Config, S3Failure, check_response};
use crate::digest::Md5Digest;
use crate::schedule::Fault;
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::{Error, Result};

/// Most keys one `DeleteObjects` request may name (S3's limit).
#[cfg(feature = "list")]
pub const MAX_DELETE_BATCH: usize = 1000;

/// How long a presigned URL stays valid: long enough for one slow upload, short
/// enough that a leaked URL is soon useless.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(300);

/// Builds presigned requests for one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    bucket: rusty_s3::Bucket,
    signer: Signer,
    expiry: Duration,
}

/// Who signs: fixed credentials (borrowed for each request), or a source asked each
/// time.
#[derive(Debug, Clone)]
enum Signer {
    Fixed(Credentials),
    Source(Arc<dyn CredentialSource>),
}

impl S3Client {
    /// A client for `config` signing with fixed `credentials`.
    ///
    /// # Errors
    /// [`Error::Config`] if the bucket cannot be addressed with the URL style (a
    /// virtual-hosted URL needs a DNS name, not an IP address).
    pub fn new(config: &S3Config, credentials: Credentials) -> Result<Self> {
        Self::build(config, Signer::Fixed(credentials))
    }

    /// A client for `config` that asks `source` for credentials before signing each
    /// request (temporary credentials that the source refreshes).
    ///
    /// # Errors
    /// As [`S3Client::new`].
    pub fn with_source(config: &S3Config, source: Arc<dyn CredentialSource>) -> Result<Self> {
        Self::build(config, Signer::Source(source))
    }

    fn build(config: &S3Config, signer: Signer) -> Result<Self> {
        let style = if config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = rusty_s3::Bucket::new(
            config.endpoint.clone(),
            style,
            config.bucket.clone(),
            config.region.clone(),
        )
        .map_err(|e| {
            Error::config(
                "endpoint",
                format!(
                    "cannot address bucket {:?} at {}: {e} (try --path-style)",
                    config.bucket, config.endpoint
                ),
            )
        })?;
        Ok(Self {
            bucket,
            signer,
            expiry: DEFAULT_EXPIRY,
        })
    }

    /// The credentials to sign the next request with.
    fn credentials(&self) -> Cow<'_, Credentials> {
        match &self.signer {
            Signer::Fixed(c) => Cow::Borrowed(c),
            Signer::Source(s) => Cow::Owned(s.current()),
        }
    }

    /// Changes how long presigned URLs stay valid (1 s to 7 days; default 5 minutes).
    #[must_use]
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry.clamp(Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));
        self
    }

    /// The bucket's name.
    #[must_use]
    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    /// A PUT of `body` to `key`, signed at `now`, with `Content-Length` and a signed
    /// `Content-MD5`: [`PutObject`] without its reply.
    #[must_use]
    pub fn put_object(&self, key: &str, body: Vec<u8>, now: Timestamp) -> HttpRequest {
        PutObject::new(key, body).sign(self, now).0
    }

    /// A GET of `key`, signed at `now`.
    #[must_use]
    pub fn get_object(&self, key: &str, now: Timestamp) -> HttpRequest {
        let credentials = self.credentials();
        let action = self.bucket.get_object(Some(&credentials.0), key);
        HttpRequest::new(
            Method::Get,
            action.sign_with_time(self.expiry, &now),
            Vec::new(),
        )
    }

    /// A DELETE of `key`, signed at `now`.
    #[must_use]
    pub fn delete_object(&self, key: &str, now: Timestamp) -> HttpRequest {
        let credentials = self.credentials();
        let action = self.bucket.delete_object(Some(&credentials.0), key);
        HttpRequest::new(
            Method::Delete,
            action.sign_with_time(self.expiry, &now),
            Vec::new(),
        )
    }

    /// A ListObjectsV2 of the keys under `prefix`, continuing after `continuation`
    /// (the previous page's token), signed at `now`. Parse the reply with
    /// [`parse_list`].
    #[cfg(feature = "list")]
    #[must_use]
    pub fn list_objects(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        now: Timestamp,
    ) -> HttpRequest {
        self.list_delimited(prefix, None, continuation, now)
    }

    /// [`S3Client::list_objects`] with a `delimiter`: keys holding it after `prefix`
    /// are folded into common prefixes ([`super::ListPage::prefixes`]), e.g. the
    /// `station=<id>/` trees of a lake, which can then be listed side by side.
    #[cfg(feature = "list")]
    #[must_use]
    pub fn list_delimited(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<&str>,
        now: Timestamp,
    ) -> HttpRequest {
        let credentials = self.credentials();
        let mut action = self.bucket.list_objects_v2(Some(&credentials.0));
        action.with_prefix(prefix);
        if let Some(d) = delimiter {
            action.with_delimiter(d);
        }
        if let Some(token) = continuation {
            action.with_continuation_token(token);
        }
        HttpRequest::new(
            Method::Get,
            action.sign_with_time(self.expiry, &now),
            Vec::new(),
        )
    }

    /// A `DeleteObjects` (POST `?delete`) of `keys` (at most [`MAX_DELETE_BATCH`]),
    /// signed at `now`, with its XML body and the `Content-MD5` S3 requires. Quiet: the
    /// reply lists only the keys that could not be deleted
    /// ([`super::reply::parse_delete`]).
    #[cfg(feature = "list")]
    #[must_use]
    pub fn delete_objects(&self, keys: &[&str], now: Timestamp) -> HttpRequest {
        let objects: Vec<rusty_s3::actions::ObjectIdentifier> = keys
            .iter()
            .map(|k| rusty_s3::actions::ObjectIdentifier::new((*k).to_owned()))
            .collect();
        let credentials = self.credentials();
        let mut action = self
            .bucket
            .delete_objects(Some(&credentials.0), objects.iter());
        action.set_quiet(true);
        let (body, md5) = action.clone().body_with_md5();
        action.headers_mut().insert("content-md5", md5.clone());
        let url = action.sign_with_time(self.expiry, &now);
        let mut req = HttpRequest::new(Method::Post, url, body.into_bytes());
        req.headers.push(("content-md5", md5));
        req.headers
            .push(("content-type", "application/xml".to_owned()));
        req
    }

    /// A PUT that creates the bucket (empty body: the default location).
    #[must_use]
    pub fn create_bucket(&self, now: Timestamp) -> HttpRequest {
        let credentials = self.credentials();
        let action = self.bucket.create_bucket(&credentials.0);
        HttpRequest::new(
            Method::Put,
            action.sign_with_time(self.expiry, &now),
            Vec::new(),
        )
    }
}

/// A PUT of one object: its key, its body and the body's MD5, hashed once when built.
/// [`PutObject::sign`] hands out the request (the digest signed as `Content-MD5`) and
/// the [`PutReply`] that judges the answer (the same digest as the expected `ETag`).
#[derive(Clone)]
pub struct PutObject {
    key: String,
    body: Vec<u8>,
    md5: Md5Digest,
    check_etag: bool,
}

impl PutObject {
    /// A PUT of `body` to `key`; hashes the body.
    #[must_use]
    pub fn new(key: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            md5: Md5Digest::of(&body),
            key: key.into(),
            body,
            check_etag: true,
        }
    }

    /// Whether a 2xx counts as stored only with the body's MD5 as its `ETag` (the
    /// default). Turn it off for stores whose ETags are not MD5s (`--no-etag-check`).
    #[must_use]
    pub const fn check_etag(mut self, check: bool) -> Self {
        self.check_etag = check;
        self
    }

    /// The body's MD5.
    #[must_use]
    pub const fn digest(&self) -> Md5Digest {
        self.md5
    }

    /// The request signed at `now` with `Content-Length` and a signed `Content-MD5`,
    /// and the judge of its reply.
    #[must_use]
    pub fn sign(self, client: &S3Client, now: Timestamp) -> (HttpRequest, PutReply) {
        let content_md5 = self.md5.base64();
        let credentials = client.credentials();
        let mut action = client.bucket.put_object(Some(&credentials.0), &self.key);
        action
            .headers_mut()
            .insert("content-md5", content_md5.clone());
        let url = action.sign_with_time(client.expiry, &now);
        let mut request = HttpRequest::new(Method::Put, url, self.body);
        request.headers.push(("content-md5", content_md5));
        (request, PutReply::expecting(self.md5, self.check_etag))
    }
}

impl std::fmt::Debug for PutObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutObject")
            .field("key", &self.key)
            .field("bytes", &self.body.len())
            .field("md5", &self.md5)
            .field("check_etag", &self.check_etag)
            .finish()
    }
}

/// Judges the reply to one signed [`PutObject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutReply {
    md5: Md5Digest,
    check_etag: bool,
}

impl PutReply {
    /// The judge of replies to a PUT of a body whose MD5 is `md5` (as
    /// [`PutObject::sign`] returns it; built directly for tests and fuzzing), checking
    /// the `ETag` or not as [`PutObject::check_etag`] says.
    #[must_use]
    pub const fn expecting(md5: Md5Digest, check_etag: bool) -> Self {
        Self { md5, check_etag }
    }

    /// The `ETag` S3 returns for the body: its MD5 in lowercase hex, unquoted.
    #[must_use]
    pub fn expected_etag(&self) -> String {
        self.md5.hex()
    }

    /// Interprets the reply. With the `ETag` check on, a 2xx only counts as stored if
    /// its `ETag` is the body's MD5: S3 returns the MD5 of a single-part upload's body,
    /// while a captive portal or a misconfigured proxy answers 200 with no or another
    /// `ETag`.
    #[must_use]
    pub fn interpret(&self, response: &HttpResponse) -> PutOutcome {
        if let Err(f) = check_response(response) {
            return PutOutcome::Failed(f);
        }
        let etag = response.header("etag").map(|e| {
            e.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        });
        if !self.check_etag {
            return PutOutcome::Stored { etag };
        }
        let expected = self.md5.hex();
        let problem = match &etag {
            Some(e) if e.eq_ignore_ascii_case(&expected) => return PutOutcome::Stored { etag },
            Some(e) => format!(
                "the reply's ETag {:?} is not the MD5 of the body sent ({expected})",
                e.chars().take(64).collect::<String>()
            ),
            None => "the reply has no ETag".to_owned(),
        };
        PutOutcome::Failed(S3Failure {
            status: response.status,
            code: if etag.is_some() {
                "ETagMismatch".into()
            } else {
                "MissingETag".into()
            },
            message: Some(format!(
                "{problem}: not counted as stored (a proxy or portal, not S3?); use --no-etag-check for stores whose ETags are not MD5s"
            )),
            request_id: response.header("x-amz-request-id").map(str::to_owned),
            server_date: None,
            retry_after: None,
            fault: Fault::Transient,
        })
    }
}

/// Result of a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// 2xx with the body's MD5 as `ETag` (or `ETag` checking off): the object is
    /// stored (its Content-MD5 was verified by S3).
    Stored {
        /// The object's `ETag`, unquoted, if returned.
        etag: Option<String>,
    },
    /// S3 refused the request, or a 2xx did not prove the object stored
    /// ([`S3Failure::is_unconfirmed`]).
    Failed(S3Failure),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{content_md5, counter, md5_hex};
    use crate::s3::reply::tests::response;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn client(path_style: bool) -> S3Client {
        let cfg = S3Config::new(
            "https://s3.eu-central-1.amazonaws.com",
            "lake-bucket",
            "eu-central-1",
            path_style,
        )
        .expect("valid config");
        S3Client::new(&cfg, Credentials::new(KEY, SECRET, None)).expect("client")
    }

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().expect("timestamp")
    }

    fn interpret_put(response: &HttpResponse, expected: Option<&str>) -> PutOutcome {
        let md5 = Md5Digest::of(b"parquet bytes");
        assert!(expected.is_none_or(|e| e == md5.hex()));
        PutReply::expecting(md5, expected.is_some()).interpret(response)
    }

    #[cfg(feature = "list")]
    #[test]
    fn a_batch_delete_names_its_keys_and_signs_the_md5_of_its_body() {
        let req = client(true).delete_objects(&["a/b.parquet", "a&<c>.parquet"], now());
        assert_eq!(req.method, Method::Post);
        assert!(
            req.url.query().is_some_and(|q| q.contains("delete")),
            "{}",
            req.url
        );
        let body = String::from_utf8(req.body.clone()).expect("utf-8");
        assert!(body.contains("<Key>a/b.parquet</Key>"), "{body}");
        assert!(
            body.contains("<Key>a&amp;&lt;c&gt;.parquet</Key>"),
            "{body}"
        );
        assert!(body.contains("<Quiet>true</Quiet>"), "{body}");
        assert_eq!(
            req.header("content-md5"),
            Some(content_md5(&req.body).as_str())
        );
        let signed = req.url.query().unwrap_or_default();
        assert!(
            signed.contains("content-md5"),
            "Content-MD5 is signed: {signed}"
        );
    }

    #[test]
    fn put_is_presigned_with_signed_content_md5_and_length() {
        let body = b"hello parquet";
        let req = client(false).put_object("station=s/data_0000.parquet", body.to_vec(), now());
        assert_eq!(req.method, Method::Put);
        assert_eq!(req.header("content-length"), Some("13"));
        assert_eq!(req.header("content-md5"), Some(content_md5(body).as_str()));
        assert!(req.header("transfer-encoding").is_none());
        let url = req.url.as_str();
        assert!(
            url.starts_with(
                "https://lake-bucket.s3.eu-central-1.amazonaws.com/station%3Ds/data_0000.parquet?"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=300"), "{url}");
        assert!(url.contains("X-Amz-Date=20260101T120000Z"), "{url}");
        assert!(
            url.contains("X-Amz-SignedHeaders=content-md5%3Bhost"),
            "{url}"
        );
        assert!(!url.contains(SECRET));
        // Deterministic: same inputs, same signature; another body, another signature.
        let again = client(false).put_object("station=s/data_0000.parquet", body.to_vec(), now());
        assert_eq!(again.url, req.url);
        let other =
            client(false).put_object("station=s/data_0000.parquet", b"other".to_vec(), now());
        assert_ne!(other.url, req.url);
    }

    #[test]
    fn path_style_and_session_token() {
        let cfg = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true).expect("valid");
        let c = S3Client::new(&cfg, Credentials::new(KEY, SECRET, Some("TOKEN/x".into())))
            .expect("client");
        let req = c.put_object("k.parquet", b"x".to_vec(), now());
        assert!(
            req.url
                .as_str()
                .starts_with("http://127.0.0.1:9000/lake/k.parquet?")
        );
        assert!(req.url.as_str().contains("X-Amz-Security-Token=TOKEN%2Fx"));
        // Virtual-hosted style cannot address a bucket at an IP address.
        let err = S3Client::new(
            &S3Config {
                path_style: false,
                ..cfg
            },
            Credentials::new(KEY, SECRET, None),
        )
        .expect_err("ip host");
        assert!(err.to_string().contains("--path-style"), "{err}");
    }

    #[test]
    fn a_2xx_counts_as_stored_only_with_the_bodys_md5_as_etag() {
        let body = b"parquet bytes";
        let md5 = md5_hex(body);
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let with_etag = |etag: Option<&str>, page: &str| {
            let mut r = response(200, page);
            if let Some(e) = etag {
                r.headers.push(("ETag".into(), e.into()));
            }
            r
        };
        let quoted = format!("\"{md5}\"");
        assert_eq!(
            interpret_put(&with_etag(Some(&quoted), ""), Some(&md5)),
            PutOutcome::Stored {
                etag: Some(md5.clone())
            }
        );
        for (etag, code) in [
            (None, "MissingETag"),
            (Some("\"0123456789abcdef0123456789abcdef\""), "ETagMismatch"),
        ] {
            let PutOutcome::Failed(f) = interpret_put(
                &with_etag(etag, "<html>Welcome to the hotel WiFi</html>"),
                Some(&md5),
            ) else {
                panic!("{etag:?} must not count as stored")
            };
            assert!(f.is_unconfirmed());
            assert_eq!((f.fault, f.code.as_str()), (Fault::Transient, code));
        }
        // Opted out: any 2xx is stored.
        assert!(matches!(
            interpret_put(&with_etag(None, ""), None),
            PutOutcome::Stored { etag: None }
        ));
    }

    #[test]
    fn a_put_hashes_its_body_once_per_attempt() {
        let cfg = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true).expect("cfg");
        let client = S3Client::new(&cfg, Credentials::new("AKID", "secret", None)).expect("client");
        let now = "2026-01-01T12:00:00Z".parse().expect("ts");
        let before = counter::hashed();
        let put = PutObject::new("k.parquet", b"Check Integrity!".to_vec());
        let digest = put.digest();
        let (request, reply) = put.sign(&client, now);
        // The known MD5 (from Python's hashlib), not hashed again here.
        let ok = HttpResponse {
            status: 200,
            headers: vec![("ETag".into(), "\"9f0aaae9beae6bfb530e4ec1e4cd7ce3\"".into())],
            body: Vec::new(),
        };
        assert!(matches!(reply.interpret(&ok), PutOutcome::Stored { .. }));
        assert_eq!(
            counter::hashed() - before,
            1,
            "one hash for Content-MD5 and ETag"
        );
        // Both spellings are that one digest.
        assert_eq!(
            request.header("content-md5"),
            Some("nwqq6b6ua/tTDk7B5M184w==")
        );
        assert_eq!(reply, PutReply::expecting(digest, true));
        assert_eq!(reply.expected_etag(), "9f0aaae9beae6bfb530e4ec1e4cd7ce3");
    }
}
