//! Which requests the embedded server serves: signed ones, to its configured buckets,
//! with keys that stay inside their bucket's directory.
//!
//! Why: `s3s-fs` maps `<bucket>/<key>` straight onto the data directory. Unchecked, a
//! PUT to any bucket name created that directory (so `run --bucket typo` succeeded),
//! and a key such as `x/../../other/f` was resolved into another bucket, or into the
//! data directory's root. Every request passes [`ServedBuckets`] before `s3s-fs` sees
//! it; the checks are plain functions ([`check_key`]) so they are tested directly too.
//!
//! ```
//! use lakenode_embedded_s3::access::check_key;
//! assert!(check_key("station=a/year=2026/data_0000.parquet").is_ok());
//! assert!(check_key("x/../../other/f").is_err());
//! ```

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, UploadPartCopyInput};
use s3s::{S3Request, S3Result, s3_error};

/// The access policy: see the module docs.
#[derive(Debug, Clone)]
pub struct ServedBuckets {
    buckets: Vec<String>,
}

impl ServedBuckets {
    /// Serves exactly `buckets`.
    #[must_use]
    pub const fn new(buckets: Vec<String>) -> Self {
        Self { buckets }
    }

    fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.buckets.iter().any(|b| b == bucket) {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchBucket,
                "this server serves only the bucket(s) {}",
                self.buckets.join(", ")
            ))
        }
    }

    fn check_object(&self, bucket: &str, key: &str) -> S3Result<()> {
        self.check_bucket(bucket)?;
        check_key(key).map_err(|why| s3_error!(InvalidArgument, "object key refused: {why}"))
    }

    fn check_copy_source(&self, source: &CopySource) -> S3Result<()> {
        match source {
            CopySource::Bucket { bucket, key, .. } => self.check_object(bucket, key),
            _ => Err(s3_error!(
                NotImplemented,
                "only bucket copy sources are served"
            )),
        }
    }
}

/// Why `key` cannot be stored as a file inside its bucket's directory, if it cannot:
/// a `.` or `..` segment, an empty segment (a leading `/` would make the key an
/// absolute path; `a//b` would be the same file as `a/b`), a NUL, or a backslash.
///
/// # Errors
/// A short reason.
pub fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("the key is empty");
    }
    if key.contains('\0') || key.contains('\\') {
        return Err("NUL and backslash are not allowed in keys");
    }
    // A trailing '/' is a directory marker object; any other empty segment is refused.
    let body = key.strip_suffix('/').unwrap_or(key);
    for segment in body.split('/') {
        match segment {
            "" => return Err("empty path segment (a leading or doubled '/')"),
            "." | ".." => return Err("'.' and '..' segments would leave the bucket"),
            _ => {}
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3Access for ServedBuckets {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "a signed request is required"));
        }
        let op = cx.s3_op().name();
        let path = cx.s3_path();
        if matches!(op, "CreateBucket" | "DeleteBucket") {
            return Err(s3_error!(
                AccessDenied,
                "this server's buckets are fixed by its configuration"
            ));
        }
        if let Some((bucket, key)) = path.as_object() {
            self.check_object(bucket, key)
        } else if let Some(bucket) = path.as_bucket() {
            self.check_bucket(bucket)
        } else {
            Ok(())
        }
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.check_copy_source(&req.input.copy_source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.check_copy_source(&req.input.copy_source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_the_bucket_are_refused() {
        for key in [
            "a/b.parquet",
            "station=x/year=2026/month=01/day=01/data_0000.parquet",
            "dir/",
            "a..b/c.d",
            "...",
        ] {
            assert_eq!(check_key(key), Ok(()), "{key}");
        }
        for key in [
            "",
            "..",
            ".",
            "../f",
            "x/../../notlake/f",
            "x/./f",
            "/etc/passwd",
            "a//b",
            "a/..",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(check_key(key).is_err(), "{key:?} accepted");
        }
    }

    #[test]
    fn only_configured_buckets_are_served() {
        let served = ServedBuckets::new(vec!["lake".into()]);
        assert!(served.check_bucket("lake").is_ok());
        let err = served.check_bucket("notthere").unwrap_err();
        assert_eq!(err.code(), &s3s::S3ErrorCode::NoSuchBucket);
        let err = served.check_object("lake", "x/../../f").unwrap_err();
        assert_eq!(err.code(), &s3s::S3ErrorCode::InvalidArgument);
    }
}
