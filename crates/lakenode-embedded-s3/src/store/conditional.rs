//! Conditional GET and HEAD: `If-Match`, `If-None-Match`, `If-Modified-Since` and
//! `If-Unmodified-Since`, evaluated as S3 documents it (GetObject / HeadObject), which
//! is RFC 9110 section 13.2.2's order:
//!
//! 1. `If-Match` given: a different ETag → `412 PreconditionFailed`; a matching one
//!    makes `If-Unmodified-Since` irrelevant (S3: "If-Match true and
//!    If-Unmodified-Since false → 200").
//! 2. Else `If-Unmodified-Since`: modified after it → 412.
//! 3. `If-None-Match` given: the ETag matches (or `*`) → `304 Not Modified`; otherwise
//!    `If-Modified-Since` is irrelevant (S3: "If-None-Match false and
//!    If-Modified-Since true → 304", i.e. the ETag decides).
//! 4. Else `If-Modified-Since`: not modified after it → 304.
//!
//! Why: the server used to ignore all four and answer 200, so a client's cache check or
//! a read conditional on an ETag got the object anyway. The ETag comparison is the
//! conditional PUT's (`strong_cmp`; weak for `If-None-Match`, as RFC 9110 says); times
//! compare in whole seconds, the precision of `Last-Modified`.
//!
//! ```text
//! GET k, If-None-Match: "<k's ETag>"         → 304
//! GET k, If-Match: "nope"                    → 412
//! GET k, If-Unmodified-Since: 2000-01-01     → 412
//! ```

use s3s::dto::{ETag, ETagCondition, Timestamp};
use s3s::{S3Result, s3_error};

/// The four conditional headers of a GET or HEAD.
pub(super) struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// The object's modification time in whole seconds (as `Last-Modified` shows it).
pub(super) fn last_modified(meta: &std::fs::Metadata) -> Option<Timestamp> {
    let since_epoch = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(since_epoch.as_secs());
    Some(Timestamp::from(whole))
}

/// A `304 Not Modified` carries the object's `ETag` and `Last-Modified`, as S3's does
/// (RFC 9110 15.4.5: the validators a 200 would have sent), so a cache can refresh
/// what it holds; another error is left as it is.
pub(super) fn with_validators(
    mut e: s3s::S3Error,
    etag: &str,
    meta: &std::fs::Metadata,
) -> s3s::S3Error {
    if *e.code() != s3s::S3ErrorCode::NotModified {
        return e;
    }
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(http::header::ETAG, v);
    }
    let modified = meta.modified().ok().map(httpdate);
    if let Some(Ok(v)) = modified.map(|m| http::HeaderValue::from_str(&m)) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

/// `t` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[usize::try_from(days % 7).unwrap_or(0)],
        MONTHS[usize::try_from(month - 1).unwrap_or(0)],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

impl Conditions<'_> {
    /// `Ok` to answer with the object; else `PreconditionFailed` (412) or
    /// `NotModified` (304).
    pub(super) fn check(&self, etag: &str, modified: Option<&Timestamp>) -> S3Result<()> {
        let have = ETag::Strong(etag.to_owned());
        let is = |c: &ETagCondition, strong: bool| match c {
            ETagCondition::Any => true,
            ETagCondition::ETag(want) if strong => have.strong_cmp(want),
            ETagCondition::ETag(want) => have.weak_cmp(want),
        };
        if let Some(c) = self.if_match {
            if !is(c, true) {
                return Err(s3_error!(PreconditionFailed, "If-Match: the ETag differs"));
            }
        } else if let (Some(since), Some(m)) = (self.if_unmodified_since, modified)
            && m > since
        {
            return Err(s3_error!(
                PreconditionFailed,
                "If-Unmodified-Since: the object was modified since"
            ));
        }
        if let Some(c) = self.if_none_match {
            if is(c, false) {
                return Err(s3_error!(NotModified));
            }
        } else if let (Some(since), Some(m)) = (self.if_modified_since, modified)
            && m <= since
        {
            return Err(s3_error!(NotModified));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::S3ErrorCode;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }

    /// The error code for (If-Match, If-None-Match, If-Modified-Since,
    /// If-Unmodified-Since) on an object with ETag "abc" modified at 1000 s.
    fn code(
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
    ) -> Option<S3ErrorCode> {
        let c = Conditions {
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        };
        c.check("abc", Some(&at(1000)))
            .err()
            .map(|e| e.code().clone())
    }

    #[test]
    fn http_dates_are_rfc_9110s() {
        let t = |secs| httpdate(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(t(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(t(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(t(1_709_208_000), "Thu, 29 Feb 2024 12:00:00 GMT");
    }

    #[test]
    fn s3_precedence_rules_hold_for_each_pair() {
        let (right, wrong) = (
            ETagCondition::ETag(ETag::Strong("abc".into())),
            ETagCondition::ETag(ETag::Strong("nope".into())),
        );
        let (before, same, after) = (at(999), at(1000), at(1001));
        let (r, w, any) = (Some(&right), Some(&wrong), Some(&ETagCondition::Any));
        let (b, s, a) = (Some(&before), Some(&same), Some(&after));
        let precondition = Some(S3ErrorCode::PreconditionFailed);
        let not_modified = Some(S3ErrorCode::NotModified);
        assert_eq!(code(None, None, None, None), None);
        assert_eq!(code(w, None, None, None), precondition);
        assert_eq!(code(r, None, None, None), None);
        assert_eq!(code(any, None, None, None), None);
        assert_eq!(code(None, None, None, b), precondition);
        assert_eq!(code(None, None, None, s), None);
        assert_eq!(code(None, r, None, None), not_modified);
        assert_eq!(code(None, w, None, None), None);
        assert_eq!(code(None, None, s, None), not_modified);
        assert_eq!(code(None, None, b, None), None);
        // S3: If-Match true and If-Unmodified-Since false → 200.
        assert_eq!(code(r, None, None, b), None);
        // S3: If-None-Match false and If-Modified-Since true → 304.
        assert_eq!(code(None, r, b, None), not_modified);
        // A differing If-None-Match makes If-Modified-Since irrelevant.
        assert_eq!(code(None, w, a, None), None);
        // 412 before 304.
        assert_eq!(code(w, r, None, None), precondition);
    }
}
