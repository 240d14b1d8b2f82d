//! S3 requests and replies, sans-IO: presigned requests built with `rusty-s3`, and
//! responses turned into typed outcomes.
//!
//! Every PUT carries `Content-Length` and a signed `Content-MD5`: S3 verifies the body
//! against it and answers `400 BadDigest` on a mismatch, so a stored object is exactly
//! the bytes the node spooled. URLs are signed just before each attempt and expire after
//! [`DEFAULT_EXPIRY`].
//!
//! ```
//! use lakenode::s3::{Credentials, S3Client, S3Config};
//! use lakenode::layout::ObjectKey;
//!
//! let config = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)?;
//! let creds = Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None);
//! let client = S3Client::new(&config, creds)?;
//! let now = "2026-01-01T00:00:00Z".parse()?;
//! let req = client.put_object("station=a/data_0000.parquet", b"PAR1".to_vec(), now);
//! assert_eq!(req.header("content-length"), Some("4"));
//! assert!(req.url.as_str().contains("X-Amz-SignedHeaders=content-md5%3Bhost"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use base64::Engine as _;
use jiff::Timestamp;
use md5::{Digest as _, Md5};
use rusty_s3::{S3Action as _, UrlStyle};
use url::Url;

use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::{Error, Result};

/// How long a presigned URL stays valid: long enough for one slow upload, short
/// enough that a leaked URL is soon useless.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(300);

/// Longest error body kept for messages (S3 error documents are well under 1 KB).
const MAX_ERROR_BODY: usize = 8 * 1024;

/// Where objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint, e.g. `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:9000`.
    pub endpoint: Url,
    /// Bucket name.
    pub bucket: String,
    /// Signing region, e.g. `eu-central-1` (`us-east-1` for most other stores).
    pub region: String,
    /// Path-style URLs (`endpoint/bucket/key`) instead of virtual-hosted ones
    /// (`bucket.endpoint/key`); needed for IP addresses and most self-hosted stores.
    pub path_style: bool,
}

impl S3Config {
    /// Validates and builds a config.
    ///
    /// # Errors
    /// [`Error::Config`] naming `endpoint`, `bucket` or `region`.
    pub fn new(endpoint: &str, bucket: &str, region: &str, path_style: bool) -> Result<Self> {
        let endpoint = Url::parse(endpoint)
            .map_err(|e| Error::config("endpoint", format!("{endpoint:?} is not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(Error::config(
                "endpoint",
                "must be an http:// or https:// URL with a host",
            ));
        }
        if !matches!(endpoint.path(), "" | "/")
            || endpoint.query().is_some()
            || endpoint.fragment().is_some()
        {
            return Err(Error::config(
                "endpoint",
                format!(
                    "{endpoint} has a path, query or fragment; give only scheme, host and port (the bucket goes in --bucket, a key prefix in --prefix)"
                ),
            ));
        }
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(Error::config(
                "endpoint",
                "must not contain a user name or password",
            ));
        }
        validate_bucket(bucket)?;
        if region.is_empty()
            || region.len() > 32
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Error::config(
                "region",
                format!("{region:?} is not a region name like `eu-central-1`"),
            ));
        }
        Ok(Self {
            endpoint,
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            path_style,
        })
    }
}

/// Checks S3's bucket naming rules (3-63 chars, lowercase letters, digits, `-`, `.`,
/// starting and ending with a letter or digit).
fn validate_bucket(bucket: &str) -> Result<()> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ok_ends = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && ok_chars && ok_ends && !bucket.contains("..") {
        Ok(())
    } else {
        Err(Error::config(
            "bucket",
            format!(
                "{bucket:?} is not a valid bucket name (3-63 lowercase letters, digits, '-' or '.')"
            ),
        ))
    }
}

/// Access key, secret and optional session token. `Debug` shows the key id only.
#[derive(Clone)]
pub struct Credentials(rusty_s3::Credentials);

impl Credentials {
    /// Credentials, with an STS session token for temporary ones.
    #[must_use]
    pub fn new(key: impl Into<String>, secret: impl Into<String>, token: Option<String>) -> Self {
        Self(match token {
            Some(t) => rusty_s3::Credentials::new_with_token(key, secret, t),
            None => rusty_s3::Credentials::new(key, secret),
        })
    }

    /// The access key id (not secret).
    #[must_use]
    pub fn key(&self) -> &str {
        self.0.key()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &self.0.key())
            .field("secret", &"<redacted>")
            .field("token", &self.0.token().map(|_| "<redacted>"))
            .finish()
    }
}

/// Builds presigned requests for one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    bucket: rusty_s3::Bucket,
    credentials: Credentials,
    expiry: Duration,
}

impl S3Client {
    /// A client for `config` signing with `credentials`.
    ///
    /// # Errors
    /// [`Error::Config`] if the bucket cannot be addressed with the URL style (a
    /// virtual-hosted URL needs a DNS name, not an IP address).
    pub fn new(config: &S3Config, credentials: Credentials) -> Result<Self> {
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
            credentials,
            expiry: DEFAULT_EXPIRY,
        })
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
    /// `Content-MD5`.
    #[must_use]
    pub fn put_object(&self, key: &str, body: Vec<u8>, now: Timestamp) -> HttpRequest {
        let md5 = content_md5(&body);
        let mut action = self.bucket.put_object(Some(&self.credentials.0), key);
        action.headers_mut().insert("content-md5", md5.clone());
        let url = action.sign_with_time(self.expiry, &now);
        let mut req = HttpRequest::new(Method::Put, url, body);
        req.headers.push(("content-md5", md5));
        req
    }

    /// A GET of `key`, signed at `now`.
    #[must_use]
    pub fn get_object(&self, key: &str, now: Timestamp) -> HttpRequest {
        let action = self.bucket.get_object(Some(&self.credentials.0), key);
        HttpRequest::new(
            Method::Get,
            action.sign_with_time(self.expiry, &now),
            Vec::new(),
        )
    }

    /// A DELETE of `key`, signed at `now`.
    #[must_use]
    pub fn delete_object(&self, key: &str, now: Timestamp) -> HttpRequest {
        let action = self.bucket.delete_object(Some(&self.credentials.0), key);
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
        let mut action = self.bucket.list_objects_v2(Some(&self.credentials.0));
        action.with_prefix(prefix);
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
    /// reply lists only the keys that could not be deleted ([`parse_delete`]).
    #[cfg(feature = "list")]
    #[must_use]
    pub fn delete_objects(&self, keys: &[&str], now: Timestamp) -> HttpRequest {
        let objects: Vec<rusty_s3::actions::ObjectIdentifier> = keys
            .iter()
            .map(|k| rusty_s3::actions::ObjectIdentifier::new((*k).to_owned()))
            .collect();
        let mut action = self
            .bucket
            .delete_objects(Some(&self.credentials.0), objects.iter());
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
        let action = self.bucket.create_bucket(&self.credentials.0);
        HttpRequest::new(
            Method::Put,
            action.sign_with_time(self.expiry, &now),
            Vec::new(),
        )
    }
}

/// One page of a bucket listing.
#[cfg(feature = "list")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// (key, size in bytes) of each object, in key order.
    pub objects: Vec<(String, u64)>,
    /// The token for the next page, if the listing is truncated.
    pub next: Option<String>,
}

/// Parses a ListObjectsV2 reply body.
///
/// # Errors
/// [`Error::Config`] (field `listing`) if the body is not a ListBucketResult.
#[cfg(feature = "list")]
pub fn parse_list(body: &[u8]) -> Result<ListPage> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::config("listing", "the listing is not UTF-8 text"))?;
    let parsed = rusty_s3::actions::ListObjectsV2::parse_response(text)
        .map_err(|e| Error::config("listing", format!("not a ListBucketResult: {e}")))?;
    Ok(ListPage {
        objects: parsed
            .contents
            .into_iter()
            .map(|c| (c.key, c.size.unwrap_or(0)))
            .collect(),
        next: parsed.next_continuation_token,
    })
}

/// Most keys one `DeleteObjects` request may name (S3's limit).
#[cfg(feature = "list")]
pub const MAX_DELETE_BATCH: usize = 1000;

/// A key a `DeleteObjects` request could not delete: (key, S3's code, its message).
#[cfg(feature = "list")]
pub type DeleteError = (String, String, String);

/// Parses a (quiet) `DeleteObjects` reply body: the keys S3 could not delete.
///
/// # Errors
/// [`Error::Config`] (field `delete`) if the body is not a DeleteResult.
#[cfg(feature = "list")]
pub fn parse_delete(body: &[u8]) -> Result<Vec<DeleteError>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::config("delete", "the reply is not UTF-8 text"))?;
    let parsed = rusty_s3::actions::DeleteObjectsResponse::parse(text)
        .map_err(|e| Error::config("delete", format!("not a DeleteResult: {e}")))?;
    Ok(parsed
        .errors
        .into_iter()
        .map(|e| (e.key, e.code, e.message))
        .collect())
}

/// Base64 of the body's MD5, the value of a `Content-MD5` header.
#[must_use]
pub fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// Lowercase hex of the body's MD5: what S3 returns as the `ETag` of a single PUT.
#[must_use]
pub fn md5_hex(body: &[u8]) -> String {
    Md5::digest(body)
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
            s
        })
}

/// What to do after a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Temporary (5xx, SlowDown, throttling, request timeout): retry with backoff.
    Transient,
    /// `RequestTimeTooSkewed`: correct the signing clock from the reply's `Date`, retry.
    ClockSkew,
    /// `BadDigest`: the body was damaged in transit; re-read it and retry.
    BadDigest,
    /// A 2xx that does not prove the object is stored: no `ETag`, or one that is not
    /// the body's MD5 (a captive portal, a proxy's page). Retry with backoff.
    Unconfirmed,
    /// Credentials, permissions, bucket or endpoint are wrong, or the reply is not
    /// S3's at all (a 4xx without an S3 error document, 404, 405, a proxy's 413): keep
    /// the data, pause uploads, and tell the operator.
    Refused,
    /// S3 itself refuses this file as a file (`EntityTooLarge`, `KeyTooLongError`...):
    /// it will never be accepted as it is. The only kind that quarantines.
    Rejected,
}

/// An S3 error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Failure {
    /// HTTP status.
    pub status: u16,
    /// The `<Code>` of S3's error document, or `HTTP <status>` if there was none.
    pub code: String,
    /// The `<Message>`, if any.
    pub message: Option<String>,
    /// The `<RequestId>` or `x-amz-request-id`, for support cases.
    pub request_id: Option<String>,
    /// The server's clock, from the `Date` header.
    pub server_date: Option<Timestamp>,
    /// How long the server asked us to wait (`Retry-After` in seconds, at most
    /// [`MAX_RETRY_AFTER`]), e.g. with 503 `SlowDown`.
    pub retry_after: Option<std::time::Duration>,
    /// What to do about it.
    pub kind: FailureKind,
}

impl std::fmt::Display for S3Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == FailureKind::Unconfirmed {
            write!(f, "a {} reply did not confirm the upload", self.status)?;
        } else if self.code.starts_with("HTTP ") {
            write!(
                f,
                "the endpoint answered {} without an S3 error document",
                self.status
            )?;
        } else {
            write!(f, "S3 answered {} {}", self.status, self.code)?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Failure {}

/// Result of a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// 2xx with the body's MD5 as `ETag` (or `ETag` checking off): the object is
    /// stored (its Content-MD5 was verified by S3).
    Stored {
        /// The object's `ETag`, if returned.
        etag: Option<String>,
    },
    /// S3 refused the request.
    Failed(S3Failure),
}

/// Longest `Retry-After` honoured: a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Interprets any S3 response: 2xx is success, anything else a typed failure.
///
/// # Errors
/// The [`S3Failure`] for a non-2xx status.
pub fn check_response(response: &HttpResponse) -> std::result::Result<(), S3Failure> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let body = &response.body[..response.body.len().min(MAX_ERROR_BODY)];
    let doc = ErrorDocument::parse(body);
    let code = doc
        .code
        .clone()
        .unwrap_or_else(|| format!("HTTP {}", response.status));
    let server_date = response
        .header("date")
        .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
        .map(|z| z.timestamp());
    let kind = classify(response.status, &code, doc.code.is_some());
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| std::time::Duration::from_secs(s).min(MAX_RETRY_AFTER));
    Err(S3Failure {
        retry_after,
        status: response.status,
        request_id: doc
            .request_id
            .or_else(|| response.header("x-amz-request-id").map(str::to_owned)),
        message: doc.message,
        server_date,
        kind,
        code,
    })
}

/// Interprets the response to a PUT. With `expected_etag` (the body's [`md5_hex`]),
/// a 2xx only counts as stored if its `ETag` equals it: S3 returns the MD5 of a
/// single-part upload's body, while a captive portal or a misconfigured proxy answers
/// 200 with no or another `ETag`. Pass `None` for stores whose ETags are not MD5s.
#[must_use]
pub fn interpret_put(response: &HttpResponse, expected_etag: Option<&str>) -> PutOutcome {
    if let Err(f) = check_response(response) {
        return PutOutcome::Failed(f);
    }
    let etag = response.header("etag").map(|e| {
        e.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    });
    let Some(expected) = expected_etag else {
        return PutOutcome::Stored { etag };
    };
    let problem = match &etag {
        Some(e) if e.eq_ignore_ascii_case(expected) => return PutOutcome::Stored { etag },
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
        kind: FailureKind::Unconfirmed,
    })
}

fn classify(status: u16, code: &str, has_document: bool) -> FailureKind {
    match code {
        "RequestTimeTooSkewed" => FailureKind::ClockSkew,
        "BadDigest" | "InvalidDigest" => FailureKind::BadDigest,
        "SlowDown"
        | "RequestTimeout"
        | "InternalError"
        | "ServiceUnavailable"
        | "Throttling"
        | "RequestLimitExceeded" => FailureKind::Transient,
        "SignatureDoesNotMatch"
        | "InvalidAccessKeyId"
        | "AccessDenied"
        | "ExpiredToken"
        | "InvalidToken"
        | "TokenRefreshRequired"
        | "NoSuchBucket"
        | "AuthorizationHeaderMalformed"
        | "PermanentRedirect"
        | "AllAccessDisabled"
        | "AccountProblem"
        | "InvalidBucketName" => FailureKind::Refused,
        // S3 refuses the file itself; nothing about the configuration would change that.
        "EntityTooLarge" | "EntityTooSmall" | "KeyTooLongError" | "InvalidObjectName"
            if has_document && (400..500).contains(&status) =>
        {
            FailureKind::Rejected
        }
        _ => match status {
            408 | 429 => FailureKind::Transient,
            s if s >= 500 => FailureKind::Transient,
            // Everything else (3xx, 4xx with an unknown code or no S3 document at all:
            // a proxy, a wrong endpoint, 404, 405, 413) is a configuration problem until
            // shown otherwise: pause and keep the data, never quarantine it.
            _ => FailureKind::Refused,
        },
    }
}

/// The fields of S3's `<Error>` document we use.
#[derive(Debug, Default, PartialEq, Eq)]
struct ErrorDocument {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

impl ErrorDocument {
    /// Parses an S3 error document; anything malformed yields whatever was read before
    /// the damage (never panics, never fails).
    fn parse(body: &[u8]) -> Self {
        use quick_xml::events::Event;

        let mut doc = Self::default();
        let Ok(text) = std::str::from_utf8(body) else {
            return doc;
        };
        let mut reader = quick_xml::Reader::from_str(text);
        let mut depth = 0usize;
        let mut field: Option<&'static str> = None;
        let mut value = String::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    depth += 1;
                    // Only direct children of the root <Error> element.
                    field = if depth == 2 {
                        match e.local_name().as_ref() {
                            "Code" => Some("code"),
                            "Message" => Some("message"),
                            "RequestId" => Some("request_id"),
                            _ => None,
                        }
                    } else {
                        None
                    };
                    value.clear();
                }
                Ok(Event::Text(t)) if field.is_some() => value.push_str(&t.xml10_content()),
                Ok(Event::CData(t)) if field.is_some() => value.push_str(t.as_ref()),
                Ok(Event::GeneralRef(r)) if field.is_some() => match r.resolve_char_ref() {
                    Ok(Some(c)) => value.push(c),
                    _ => value
                        .push_str(quick_xml::escape::resolve_predefined_entity(&r).unwrap_or("")),
                },
                Ok(Event::End(_)) => {
                    let v = std::mem::take(&mut value).trim().to_owned();
                    match field.take() {
                        Some("code") if !v.is_empty() => doc.code = Some(v),
                        Some("message") if !v.is_empty() => doc.message = Some(v),
                        Some("request_id") if !v.is_empty() => doc.request_id = Some(v),
                        _ => {}
                    }
                    depth = depth.saturating_sub(1);
                }
                Ok(Event::Eof) | Err(_) => return doc,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[cfg(feature = "list")]
    #[test]
    fn a_delete_reply_lists_the_keys_not_deleted() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>ok</Key></Deleted><Error><Key>a/b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>"#;
        assert_eq!(
            parse_delete(body.as_bytes()).expect("parsed"),
            vec![(
                "a/b".to_owned(),
                "AccessDenied".to_owned(),
                "Access Denied".to_owned()
            )]
        );
        let quiet =
            r#"<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>"#;
        assert_eq!(parse_delete(quiet.as_bytes()).expect("parsed"), vec![]);
        assert!(parse_delete(b"<html>portal</html>").is_err());
    }

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![
                ("Date".into(), "Thu, 01 Jan 2026 12:20:00 GMT".into()),
                ("x-amz-request-id".into(), "HDR-ID".into()),
            ],
            body: body.as_bytes().to_vec(),
        }
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
    fn md5_matches_independent_values() {
        // The empty body's Content-MD5 as AWS documents it; the other from Python's hashlib.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"Check Integrity!"), "nwqq6b6ua/tTDk7B5M184w==");
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
    fn config_validation_names_fields() {
        let e = S3Config::new("ftp://x", "lake", "us-east-1", true).expect_err("scheme");
        assert!(e.to_string().starts_with("invalid endpoint"), "{e}");
        let e = S3Config::new("https://u:p@x", "lake", "us-east-1", true).expect_err("userinfo");
        assert!(e.to_string().starts_with("invalid endpoint"), "{e}");
        for bad in [
            "http://127.0.0.1:9000/some/path",
            "http://127.0.0.1:9000/?x=1",
            "http://127.0.0.1:9000/#frag",
        ] {
            let e = S3Config::new(bad, "lake", "us-east-1", true).expect_err(bad);
            assert!(
                e.to_string().contains("has a path, query or fragment"),
                "{e}"
            );
        }
        assert!(S3Config::new("http://127.0.0.1:9000/", "lake", "us-east-1", true).is_ok());
        for bad in [
            "ab",
            "Lake",
            "lake_1",
            "-lake",
            "lake-",
            "a..b",
            &"a".repeat(64),
        ] {
            let e = S3Config::new("https://x", bad, "us-east-1", true).expect_err(bad);
            assert!(e.to_string().starts_with("invalid bucket"), "{e}");
        }
        let e = S3Config::new("https://x", "lake", "EU Central", true).expect_err("region");
        assert!(e.to_string().starts_with("invalid region"), "{e}");
    }

    #[test]
    fn debug_output_hides_the_secret_and_token() {
        let c = Credentials::new(KEY, SECRET, Some("SESSIONTOKEN".into()));
        let dbg = format!("{c:?} {:?}", client(true));
        assert!(dbg.contains(KEY));
        assert!(
            !dbg.contains(SECRET) && !dbg.contains("SESSIONTOKEN"),
            "{dbg}"
        );
    }

    #[test]
    fn error_documents_become_typed_failures() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on &#x21;</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let PutOutcome::Failed(f) = interpret_put(&response(403, xml), None) else {
            panic!("403 is a failure")
        };
        assert_eq!(f.code, "SignatureDoesNotMatch");
        assert_eq!(f.kind, FailureKind::Refused);
        assert_eq!(
            f.message.as_deref(),
            Some("The request signature we calculated does not match & so on !")
        );
        assert_eq!(f.request_id.as_deref(), Some("4442587FB7D0A2F9"));
        assert_eq!(
            f.server_date,
            Some("2026-01-01T12:20:00Z".parse().expect("ts"))
        );
        assert!(f.to_string().contains("403 SignatureDoesNotMatch"));
    }

    #[test]
    fn classification_of_codes_and_bare_statuses() {
        let kind = |status, code: &str| {
            let body = format!("<Error><Code>{code}</Code></Error>");
            check_response(&response(status, &body))
                .expect_err("failure")
                .kind
        };
        assert_eq!(kind(403, "RequestTimeTooSkewed"), FailureKind::ClockSkew);
        assert_eq!(kind(400, "BadDigest"), FailureKind::BadDigest);
        assert_eq!(kind(503, "SlowDown"), FailureKind::Transient);
        assert_eq!(kind(400, "RequestTimeout"), FailureKind::Transient);
        assert_eq!(kind(403, "InvalidAccessKeyId"), FailureKind::Refused);
        assert_eq!(kind(404, "NoSuchBucket"), FailureKind::Refused);
        assert_eq!(kind(400, "EntityTooLarge"), FailureKind::Rejected);
        assert_eq!(kind(400, "KeyTooLongError"), FailureKind::Rejected);
        // An S3 code we do not know pauses, it never quarantines.
        assert_eq!(kind(400, "InvalidArgument"), FailureKind::Refused);
        assert_eq!(kind(404, "NoSuchKey"), FailureKind::Refused);
        let bare = |status| check_response(&response(status, "")).expect_err("failure");
        assert_eq!(bare(502).kind, FailureKind::Transient);
        assert_eq!(bare(502).code, "HTTP 502");
        assert_eq!(bare(429).kind, FailureKind::Transient);
        assert_eq!(bare(403).kind, FailureKind::Refused);
        // Not S3's replies: a proxy's or a wrong endpoint's 404, 405, 413, with or
        // without an HTML page.
        for status in [400, 404, 405, 413] {
            assert_eq!(bare(status).kind, FailureKind::Refused, "{status}");
            let html = check_response(&response(
                status,
                "<html><body><h1>404 Not Found</h1></body></html>",
            ))
            .expect_err("failure");
            assert_eq!(html.kind, FailureKind::Refused, "{status} html");
            assert_eq!(html.code, format!("HTTP {status}"));
        }
        // A page that merely mentions EntityTooLarge is not S3's document.
        assert_eq!(bare(413).kind, FailureKind::Refused);
        assert_eq!(bare(403).request_id.as_deref(), Some("HDR-ID"));
    }

    #[test]
    fn garbage_error_bodies_never_panic() {
        for body in [
            "",
            "<",
            "<Error><Code>",
            "<Error><Code>X</Wrong></Error>",
            "\u{0}\u{ff}",
            "<a><Error><Code>Nested</Code></Error></a>",
        ] {
            let f = check_response(&response(500, body)).expect_err("500");
            assert_eq!(f.kind, FailureKind::Transient, "{body:?}");
        }
        let f = check_response(&HttpResponse {
            status: 500,
            headers: vec![],
            body: vec![0xff, 0xfe, b'<'],
        })
        .expect_err("500");
        assert_eq!(f.code, "HTTP 500");
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
            assert_eq!((f.kind, f.code.as_str()), (FailureKind::Unconfirmed, code));
        }
        // Opted out: any 2xx is stored.
        assert!(matches!(
            interpret_put(&with_etag(None, ""), None),
            PutOutcome::Stored { etag: None }
        ));
    }
}
