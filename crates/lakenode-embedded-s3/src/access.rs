//! Which requests the embedded server serves: signed ones, allowed by the IAM policy of
//! their access key if it has one ([`crate::policy`]), to its configured buckets, with
//! keys that stay inside their bucket's directory.
//!
//! Why: the store maps `<bucket>/<key>` straight onto the data directory. Unchecked (as
//! with `s3s-fs`, the store before issue 24), a PUT to any bucket name created that
//! directory (so `run --bucket typo` succeeded), and a key such as `x/../../other/f` was
//! resolved into another bucket, or into the data directory's root. Every request passes
//! [`ServedBuckets`] before the store ([`crate::store`], which checks keys again) sees
//! it; the checks are plain functions ([`check_key`]) so they are tested directly too.
//!
//! ```
//! use lakenode_embedded_s3::access::check_key;
//! assert!(check_key("station=a/year=2026/data_0000.parquet").is_ok());
//! assert!(check_key("x/../../other/f").is_err());
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::Credentials;
use s3s::dto::{CopyObjectInput, CopySource, DeleteObjectsInput, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use crate::policy::{ALL_RESOURCES, Decision, IdentityPolicy, iam_action, resource_arn};

/// The access policy: see the module docs.
#[derive(Debug, Clone)]
pub struct ServedBuckets {
    buckets: Vec<String>,
    policies: Arc<BTreeMap<String, IdentityPolicy>>,
    region: Option<String>,
}

impl ServedBuckets {
    /// Serves exactly `buckets`, to every access key the server authenticates.
    #[must_use]
    pub fn new(buckets: Vec<String>) -> Self {
        Self {
            buckets,
            policies: Arc::default(),
            region: None,
        }
    }

    /// Refuses requests signed for a region other than `region` (if given), as AWS
    /// does: a client that resolves the wrong region fails here too.
    #[must_use]
    pub fn with_region(mut self, region: Option<String>) -> Self {
        self.region = region;
        self
    }

    /// Limits the access keys named in `policies` to what their IAM identity policy
    /// allows (`403 AccessDenied` for the rest); other keys stay unrestricted.
    #[must_use]
    pub fn with_policies(mut self, policies: BTreeMap<String, IdentityPolicy>) -> Self {
        self.policies = Arc::new(policies);
        self
    }

    /// Whether `credentials` may perform `action` on `resource`.
    fn authorize(
        &self,
        credentials: Option<&Credentials>,
        action: &str,
        resource: &str,
    ) -> S3Result<()> {
        let Some(credentials) = credentials else {
            return Err(s3_error!(AccessDenied, "a signed request is required"));
        };
        let key = credentials.access_key.as_str();
        let Some(policy) = self.policies.get(key) else {
            return Ok(());
        };
        let why = match policy.evaluate(action, resource) {
            Decision::Allow => return Ok(()),
            Decision::ImplicitDeny => "no statement of its IAM policy allows it".to_owned(),
            Decision::ExplicitDeny(sid) => match sid {
                Some(sid) => format!("statement {sid:?} of its IAM policy denies it"),
                None => "an explicit Deny in its IAM policy refuses it".to_owned(),
            },
        };
        tracing::debug!(
            access_key = key,
            action,
            resource,
            "embedded S3: access denied: {why}"
        );
        Err(s3_error!(
            AccessDenied,
            "access key {key} is not authorized to perform {action} on resource {resource}: {why}"
        ))
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

    fn check_copy_source(
        &self,
        credentials: Option<&Credentials>,
        source: &CopySource,
    ) -> S3Result<()> {
        match source {
            CopySource::Bucket { bucket, key, .. } => {
                self.authorize(
                    credentials,
                    &iam_action("GetObject"),
                    &resource_arn(bucket, Some(key)),
                )?;
                self.check_object(bucket, key)
            }
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

/// The region a request was signed for: the third field of its credential scope
/// (`KEY/DATE/REGION/s3/aws4_request`), from a presigned URL's `X-Amz-Credential` or
/// the `Authorization` header's `Credential=`.
///
/// ```
/// use lakenode_embedded_s3::access::signed_region;
/// let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Feu-central-1%2Fs3%2Faws4_request";
/// assert_eq!(signed_region(Some(q), None).as_deref(), Some("eu-central-1"));
/// let h = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
/// assert_eq!(signed_region(None, Some(h)).as_deref(), Some("us-east-1"));
/// ```
#[must_use]
pub fn signed_region(query: Option<&str>, authorization: Option<&str>) -> Option<String> {
    let scope = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("X-Amz-Credential="))
        .map(|v| v.replace("%2F", "/").replace("%2f", "/"))
        .or_else(|| {
            let rest = authorization?.split_once("Credential=")?.1;
            Some(rest.split([',', ' ']).next()?.to_owned())
        })?;
    scope.split('/').nth(2).map(str::to_owned)
}

#[async_trait::async_trait]
impl S3Access for ServedBuckets {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "a signed request is required"));
        }
        if let Some(want) = &self.region {
            let auth = cx
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            match signed_region(cx.uri().query(), auth) {
                Some(got) if got == *want => {}
                got => {
                    return Err(s3_error!(
                        AuthorizationHeaderMalformed,
                        "the region '{}' is wrong; expecting '{want}'",
                        got.unwrap_or_default()
                    ));
                }
            }
        }
        let op = cx.s3_op().name();
        let path = cx.s3_path();
        // DeleteObjects names its keys in the body: checked per key in `delete_objects`.
        if op != "DeleteObjects" {
            let resource = match path {
                S3Path::Object { bucket, key } => resource_arn(bucket, Some(key)),
                S3Path::Bucket { bucket } => resource_arn(bucket, None),
                S3Path::Root => ALL_RESOURCES.to_owned(),
            };
            self.authorize(cx.credentials(), &iam_action(op), &resource)?;
        }
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
        self.check_copy_source(req.credentials.as_ref(), &req.input.copy_source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.check_copy_source(req.credentials.as_ref(), &req.input.copy_source)
    }

    /// Every key of a multi-object delete, as `s3:DeleteObject` on that key (the whole
    /// request is refused if one is not allowed, where AWS reports per key).
    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let bucket = &req.input.bucket;
        for object in &req.input.delete.objects {
            self.authorize(
                req.credentials.as_ref(),
                &iam_action("DeleteObject"),
                &resource_arn(bucket, Some(&object.key)),
            )?;
            self.check_object(bucket, &object.key)?;
        }
        Ok(())
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

    const STATION_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const ADMIN_KEY: &str = "AKIAI44QH8DHBEXAMPLE";
    const STATION: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

    fn credentials(key: &str) -> Credentials {
        Credentials {
            access_key: key.to_owned(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    /// The station key under a put-only policy on its two trees; the admin key free.
    fn served() -> ServedBuckets {
        let policy = IdentityPolicy::parse(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [
              {{"Effect": "Allow", "Action": "s3:PutObject", "Resource": [
                "arn:aws:s3:::lake/raw/station={STATION}/*",
                "arn:aws:s3:::lake/raw/health/station={STATION}/*"]}},
              {{"Sid": "NeverTheArchive", "Effect": "Deny", "Action": "s3:*",
                "Resource": "arn:aws:s3:::lake/raw/station={STATION}/archive/*"}}]}}"#
        ))
        .expect("valid policy");
        ServedBuckets::new(vec!["lake".into()])
            .with_policies(BTreeMap::from([(STATION_KEY.to_owned(), policy)]))
    }

    fn denied(result: S3Result<()>) -> String {
        let err = result.expect_err("denied");
        assert_eq!(err.code(), &s3s::S3ErrorCode::AccessDenied);
        err.message().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_policy_allows_the_station_its_puts_and_nothing_else() {
        let served = served();
        let station = credentials(STATION_KEY);
        let put = |key: &str| {
            served.authorize(
                Some(&station),
                &iam_action("PutObject"),
                &resource_arn("lake", Some(key)),
            )
        };
        let data = format!("raw/station={STATION}/year=2026/month=01/day=01/data_0000.parquet");
        let health =
            format!("raw/health/station={STATION}/year=2026/month=01/day=01/health_0000.parquet");
        assert!(put(&data).is_ok());
        assert!(put(&health).is_ok());
        // Another station's tree.
        let other = data.replace(STATION, "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f");
        let message = denied(put(&other));
        assert!(
            message.contains(&format!(
                "access key {STATION_KEY} is not authorized to perform s3:PutObject on resource arn:aws:s3:::lake/{other}: no statement of its IAM policy allows it"
            )),
            "{message}"
        );
        // Reading back its own file, listing, deleting, copying out of it.
        for (op, resource) in [
            ("GetObject", resource_arn("lake", Some(&data))),
            ("HeadObject", resource_arn("lake", Some(&data))),
            ("DeleteObject", resource_arn("lake", Some(&data))),
            ("ListObjectsV2", resource_arn("lake", None)),
            ("ListBuckets", ALL_RESOURCES.to_owned()),
        ] {
            denied(served.authorize(Some(&station), &iam_action(op), &resource));
        }
        let source = CopySource::Bucket {
            bucket: "lake".into(),
            key: data.clone().into(),
            version_id: None,
        };
        denied(served.check_copy_source(Some(&station), &source));
        // An explicit Deny inside the allowed tree wins, and says which statement.
        let message = denied(put(&format!("raw/station={STATION}/archive/a.parquet")));
        assert!(
            message.contains("statement \"NeverTheArchive\" of its IAM policy denies it"),
            "{message}"
        );
        // No policy: the admin key may do anything; no credentials: nothing.
        let admin = credentials(ADMIN_KEY);
        assert!(
            served
                .authorize(
                    Some(&admin),
                    "s3:GetObject",
                    &resource_arn("lake", Some(&data))
                )
                .is_ok()
        );
        assert!(served.check_copy_source(Some(&admin), &source).is_ok());
        denied(served.authorize(None, "s3:PutObject", &resource_arn("lake", Some(&data))));
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
