//! What S3 answered: any reply turned into success or a typed [`S3Failure`] that already
//! carries the upload schedule's [`Fault`].
//!
//! Following Vector's split, *what* a reply means (retriable, refused, rejected, a
//! damaged body, a clock S3 calls skewed) is decided here, from the status and S3's
//! error document, and *when* to go on by [`crate::schedule::RetryPolicy`]. The station
//! adds only what needs its own state: whether to correct its signing clock from the
//! reply's `Date` ([`S3Failure::blames_clock`]).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::schedule::Fault;
use crate::transport::HttpResponse;
#[cfg(feature = "list")]
use crate::{Error, Result};

/// Longest error body kept for messages (S3 error documents are well under 1 KB).
const MAX_ERROR_BODY: usize = 8 * 1024;

/// Longest `Retry-After` honoured: a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How far the signing clock may differ from S3's `Date` before a 403 is taken for a
/// clock problem rather than a permission problem.
pub const SKEW_TOLERANCE: SignedDuration = SignedDuration::from_secs(60);

/// One page of a bucket listing.
#[cfg(feature = "list")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// (key, size in bytes) of each object, in key order.
    pub objects: Vec<(String, u64)>,
    /// The `ETag` of each object, in the same order (empty where the reply gives
    /// none): what tells an object rewritten with the same size from the one before.
    pub etags: Vec<String>,
    /// The token for the next page, if the listing is truncated.
    pub next: Option<String>,
    /// Common prefixes (a listing with a delimiter), in key order.
    pub prefixes: Vec<String>,
}

/// Parses a ListObjectsV2 reply body.
///
/// Read in one pass of `quick-xml` events, keeping only the keys, sizes, common
/// prefixes and the token: a year of 1,000 stations is 730 pages of 1000 keys, and the
/// generic deserializer this replaced (rusty-s3's) cost ~4 µs a key in allocations and
/// field-name comparisons. The same rules as it: keys and prefixes URL-decoded when the
/// reply says `EncodingType` `url` (a `+` is a space, as S3 and MinIO encode them), a
/// truncated reply without a token refused, a token ignored unless truncated (or no
/// `IsTruncated` given).
///
/// # Errors
/// [`Error::BadListing`] if the body is not a ListBucketResult.
#[cfg(feature = "list")]
pub fn parse_list(body: &[u8]) -> Result<ListPage> {
    use quick_xml::events::Event;

    let bad = |reason: String| Error::BadListing { reason };
    let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8 text".into()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut page = ListPage::default();
    // The open elements below the root (at most two deep matter), and the text of the
    // innermost one.
    let mut path: Vec<String> = Vec::with_capacity(4);
    let mut value = String::new();
    let mut root = false;
    let (mut key, mut size, mut etag) = (None::<String>, None::<u64>, None::<String>);
    let (mut truncated, mut token, mut url) = (None::<bool>, None::<String>, false);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("not a ListBucketResult: {e}")))?;
        match event {
            Event::Start(e) => {
                if !root {
                    if e.local_name().as_ref() != "ListBucketResult" {
                        return Err(bad("not a ListBucketResult".into()));
                    }
                    root = true;
                    continue;
                }
                path.push(e.local_name().as_ref().to_owned());
                value.clear();
            }
            Event::Empty(e) if !root => {
                return if e.local_name().as_ref() == "ListBucketResult" {
                    Ok(page)
                } else {
                    Err(bad("not a ListBucketResult".into()))
                };
            }
            Event::Text(t) if !path.is_empty() => value.push_str(&t.xml10_content()),
            Event::CData(t) if !path.is_empty() => {
                value.push_str(t.as_ref());
            }
            Event::GeneralRef(r) if !path.is_empty() => match r.resolve_char_ref() {
                Ok(Some(c)) => value.push(c),
                _ => value.push_str(
                    quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| bad("an unknown entity".into()))?,
                ),
            },
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    // The root's end: the document is read.
                    break;
                };
                let text = std::mem::take(&mut value);
                match (path.first().map(String::as_str), name.as_str()) {
                    (None, "Contents") => {
                        let key = key
                            .take()
                            .ok_or_else(|| bad("an object without a Key".into()))?;
                        page.objects.push((key, size.take().unwrap_or(0)));
                        page.etags.push(etag.take().unwrap_or_default());
                    }
                    (Some("Contents"), "Key") if path.len() == 1 => key = Some(text),
                    (Some("Contents"), "ETag") if path.len() == 1 => etag = Some(text),
                    (Some("Contents"), "Size") if path.len() == 1 => {
                        let n = text
                            .trim()
                            .parse()
                            .map_err(|_| bad(format!("a Size of {text:?}")))?;
                        size = Some(n);
                    }
                    (Some("CommonPrefixes"), "Prefix") if path.len() == 1 => {
                        page.prefixes.push(text);
                    }
                    (None, "IsTruncated") => truncated = Some(text.trim() == "true"),
                    (None, "NextContinuationToken") => token = Some(text),
                    (None, "EncodingType") => url = text.trim() == "url",
                    _ => {}
                }
            }
            Event::Eof => return Err(bad("not a ListBucketResult: it ends early".into())),
            _ => {}
        }
    }
    page.next = match (truncated, token) {
        (Some(false), _) => None,
        (_, Some(token)) if !token.is_empty() => Some(token),
        (Some(true), _) => return Err(bad("truncated without a continuation token".into())),
        (None, _) => None,
    };
    if url {
        for (key, _) in &mut page.objects {
            url_decode(key);
        }
        page.prefixes.iter_mut().for_each(url_decode);
    }
    Ok(page)
}

/// Decodes a URL-encoded key in place as S3 encodes them (`+` a space, `%XX` a byte),
/// leaving it as it was if that is not UTF-8.
#[cfg(feature = "list")]
fn url_decode(value: &mut String) {
    if !value.contains(['%', '+']) {
        return;
    }
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (b, escaped) {
            (_, Some(byte)) => {
                out.push(u8::try_from(byte).unwrap_or(b'%'));
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    if let Ok(decoded) = String::from_utf8(out) {
        *value = decoded;
    }
}

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

/// An S3 error reply, or a 2xx that did not prove the object stored.
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
    pub retry_after: Option<Duration>,
    /// What the upload schedule makes of it: [`Fault::Transient`] (5xx, throttling,
    /// timeouts, a skewed clock, an unconfirmed 2xx), [`Fault::BadDigest`],
    /// [`Fault::Refused`] (credentials, permissions, bucket, endpoint, or a reply that
    /// is not S3's: keep the data and pause) or [`Fault::Rejected`] (S3 refuses the
    /// file as a file: the only fault that quarantines). Never
    /// [`Fault::ClockCorrected`]: only the station knows whether it corrected its clock.
    pub fault: Fault,
}

impl S3Failure {
    /// A 2xx that does not prove the object stored (no `ETag`, or not the body's MD5:
    /// a captive portal, a proxy's page).
    #[must_use]
    pub fn is_unconfirmed(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the reply blames the signing clock, which read `ours` (if known) when
    /// the request was signed: S3 said `RequestTimeTooSkewed`, or a 403's `Date` is
    /// more than [`SKEW_TOLERANCE`] away from `ours` (a signature signed at the wrong
    /// time fails like one made with the wrong key). The station then corrects its
    /// clock from [`S3Failure::server_date`], within bounds.
    #[must_use]
    pub fn blames_clock(&self, ours: Option<Timestamp>) -> bool {
        self.code == "RequestTimeTooSkewed"
            || (self.status == 403
                && self.server_date.is_some_and(|server| {
                    ours.is_some_and(|ours| server.duration_since(ours).abs() > SKEW_TOLERANCE)
                }))
    }
}

impl std::fmt::Display for S3Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unconfirmed() {
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
    let fault = classify(response.status, &code, doc.code.is_some());
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
    Err(S3Failure {
        retry_after,
        status: response.status,
        request_id: doc
            .request_id
            .or_else(|| response.header("x-amz-request-id").map(str::to_owned)),
        message: doc.message,
        server_date,
        fault,
        code,
    })
}

/// The error table: what the schedule makes of a status and an S3 error code.
fn classify(status: u16, code: &str, has_document: bool) -> Fault {
    match code {
        "BadDigest" | "InvalidDigest" => Fault::BadDigest,
        // A skewed clock is retried like an outage unless the station corrects its
        // clock first (`S3Failure::blames_clock`).
        "RequestTimeTooSkewed"
        | "SlowDown"
        | "RequestTimeout"
        | "InternalError"
        | "ServiceUnavailable"
        | "Throttling"
        | "RequestLimitExceeded" => Fault::Transient,
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
        | "InvalidBucketName" => Fault::Refused,
        // S3 refuses the file itself; nothing about the configuration would change that.
        "EntityTooLarge" | "EntityTooSmall" | "KeyTooLongError" | "InvalidObjectName"
            if has_document && (400..500).contains(&status) =>
        {
            Fault::Rejected
        }
        _ => match status {
            408 | 429 => Fault::Transient,
            s if s >= 500 => Fault::Transient,
            // Everything else (3xx, 4xx with an unknown code or no S3 document at all:
            // a proxy, a wrong endpoint, 404, 405, 413) is a configuration problem until
            // shown otherwise: pause and keep the data, never quarantine it.
            _ => Fault::Refused,
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
pub(crate) mod tests {
    use super::*;

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

    #[cfg(feature = "list")]
    #[test]
    fn a_listing_reply_gives_keys_sizes_prefixes_and_the_token() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lake</Name><Prefix>a%2Fb</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>a/x+y%2Bz%C3%A9</Key><LastModified>2026-12-04T12:00:00.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>12</Size><Owner><ID>o</ID></Owner></Contents><Contents><Key>a/&lt;&amp;&gt;%25</Key><Size>0</Size></Contents><CommonPrefixes><Prefix>a/p%20q/</Prefix></CommonPrefixes><NextContinuationToken>tok+en</NextContinuationToken><EncodingType>url</EncodingType></ListBucketResult>"#;
        let page = parse_list(body.as_bytes()).expect("parsed");
        assert_eq!(
            page.objects,
            vec![("a/x y+zé".to_owned(), 12), ("a/<&>%".to_owned(), 0)]
        );
        assert_eq!(page.prefixes, vec!["a/p q/".to_owned()]);
        assert_eq!(
            page.etags,
            vec![
                r#""d41d8cd98f00b204e9800998ecf8427e""#.to_owned(),
                String::new()
            ]
        );
        assert_eq!(
            page.next.as_deref(),
            Some("tok+en"),
            "the token is not decoded"
        );
        // Not URL-encoded: taken as they are.
        let plain = r#"<ListBucketResult><IsTruncated>false</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>a+b%20</Key><Size> 7 </Size></Contents></ListBucketResult>"#;
        let page = parse_list(plain.as_bytes()).expect("parsed");
        assert_eq!(page.objects, vec![("a+b%20".to_owned(), 7)]);
        assert_eq!(page.next, None, "not truncated: no next page");
        assert_eq!(
            parse_list(b"<ListBucketResult/>").expect("empty"),
            ListPage::default()
        );
        for bad in [
            "<html>portal</html>",
            "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Key>k",
            "",
        ] {
            assert!(parse_list(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    pub(crate) fn response(status: u16, body: &str) -> HttpResponse {
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
    fn error_documents_become_typed_failures() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on &#x21;</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let f = check_response(&response(403, xml)).expect_err("403 is a failure");
        assert_eq!(f.code, "SignatureDoesNotMatch");
        assert_eq!(f.fault, Fault::Refused);
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
        let fault = |status, code: &str| {
            let body = format!("<Error><Code>{code}</Code></Error>");
            check_response(&response(status, &body))
                .expect_err("failure")
                .fault
        };
        assert_eq!(fault(403, "RequestTimeTooSkewed"), Fault::Transient);
        assert_eq!(fault(400, "BadDigest"), Fault::BadDigest);
        assert_eq!(fault(503, "SlowDown"), Fault::Transient);
        assert_eq!(fault(400, "RequestTimeout"), Fault::Transient);
        assert_eq!(fault(403, "InvalidAccessKeyId"), Fault::Refused);
        assert_eq!(fault(404, "NoSuchBucket"), Fault::Refused);
        assert_eq!(fault(400, "EntityTooLarge"), Fault::Rejected);
        assert_eq!(fault(400, "KeyTooLongError"), Fault::Rejected);
        // An S3 code we do not know pauses, it never quarantines.
        assert_eq!(fault(400, "InvalidArgument"), Fault::Refused);
        assert_eq!(fault(404, "NoSuchKey"), Fault::Refused);
        let bare = |status| check_response(&response(status, "")).expect_err("failure");
        assert_eq!(bare(502).fault, Fault::Transient);
        assert_eq!(bare(502).code, "HTTP 502");
        assert_eq!(bare(429).fault, Fault::Transient);
        assert_eq!(bare(403).fault, Fault::Refused);
        // Not S3's replies: a proxy's or a wrong endpoint's 404, 405, 413, with or
        // without an HTML page.
        for status in [400, 404, 405, 413] {
            assert_eq!(bare(status).fault, Fault::Refused, "{status}");
            let html = check_response(&response(
                status,
                "<html><body><h1>404 Not Found</h1></body></html>",
            ))
            .expect_err("failure");
            assert_eq!(html.fault, Fault::Refused, "{status} html");
            assert_eq!(html.code, format!("HTTP {status}"));
        }
        // A page that merely mentions EntityTooLarge is not S3's document.
        assert_eq!(bare(413).fault, Fault::Refused);
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
            assert_eq!(f.fault, Fault::Transient, "{body:?}");
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
    fn the_clock_is_blamed_when_s3_says_so_or_a_403_disagrees_with_it() {
        let skewed = check_response(&response(
            403,
            "<Error><Code>RequestTimeTooSkewed</Code></Error>",
        ))
        .expect_err("403");
        assert_eq!(skewed.fault, Fault::Transient);
        assert!(skewed.blames_clock(None));
        // S3's Date is 12:20:00; a 403 blames the clock only beyond the tolerance.
        let denied = check_response(&response(403, "<Error><Code>AccessDenied</Code></Error>"))
            .expect_err("403");
        assert_eq!(denied.fault, Fault::Refused);
        let at = |t: &str| Some(t.parse::<Timestamp>().expect("ts"));
        assert!(denied.blames_clock(at("2026-01-01T12:00:00Z")));
        assert!(!denied.blames_clock(at("2026-01-01T12:19:30Z")));
        assert!(!denied.blames_clock(None));
        // Another status never does, however far the clocks are apart.
        let gone = check_response(&response(404, "")).expect_err("404");
        assert!(!gone.blames_clock(at("2020-01-01T00:00:00Z")));
        assert!(!gone.is_unconfirmed());
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        let mut r = response(503, "<Error><Code>SlowDown</Code></Error>");
        r.headers.push(("Retry-After".into(), " 7 ".into()));
        let f = check_response(&r).expect_err("503");
        assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
        r.headers.push(("Retry-After".into(), "999999".into()));
        r.headers.remove(2);
        let f = check_response(&r).expect_err("503");
        assert_eq!(f.retry_after, Some(MAX_RETRY_AFTER));
        assert!(check_response(&response(204, "")).is_ok());
    }
}
