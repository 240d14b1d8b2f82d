//! Where objects go and who signs: the endpoint, bucket and region checked once when
//! the configuration is read (so a typo fails at start, naming the field, not as a
//! signature error on the first upload), and credentials whose `Debug` never shows the
//! secret or the session token (configs and clients end up in logs).

use url::Url;

use crate::{Error, Result};

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
pub struct Credentials(pub(super) rusty_s3::Credentials);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::S3Client;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

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
        let dbg = format!("{c:?} {:?}", client());
        assert!(dbg.contains(KEY));
        assert!(
            !dbg.contains(SECRET) && !dbg.contains("SESSIONTOKEN"),
            "{dbg}"
        );
    }

    fn client() -> S3Client {
        let cfg = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)
            .expect("valid config");
        S3Client::new(
            &cfg,
            Credentials::new(KEY, SECRET, Some("SESSIONTOKEN".into())),
        )
        .expect("client")
    }
}
