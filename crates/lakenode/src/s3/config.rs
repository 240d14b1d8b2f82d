//! Where objects go and who signs: the endpoint, bucket and region checked once when
//! the configuration is read (so a typo fails at start, naming the field, not as a
//! signature error on the first upload), and credentials whose `Debug` never shows the
//! secret or the session token (configs and clients end up in logs).
//!
//! Who signs is either fixed [`Credentials`] (the device's, from NVS) or a
//! [`CredentialSource`] asked before each request: a host hands out temporary
//! credentials that expire (the CLI's AWS chain: SSO, `credential_process`, roles) and
//! refreshes them behind it, with no I/O in this crate.
//!
//! ```
//! use std::sync::Arc;
//! use lakenode::s3::{CredentialSource, Credentials, S3Client, S3Config};
//!
//! /// Fresh temporary credentials each time (a host would cache them until near expiry).
//! #[derive(Debug)]
//! struct Rotating;
//! impl CredentialSource for Rotating {
//!     fn current(&self) -> Credentials {
//!         Credentials::new("ASIAIOSFODNN7EXAMPLE", "secret", Some("token".into()))
//!     }
//! }
//! let config = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)?;
//! let client = S3Client::with_source(&config, Arc::new(Rotating))?;
//! let req = client.get_object("k", "2026-01-01T00:00:00Z".parse()?);
//! assert!(req.url.as_str().contains("X-Amz-Security-Token=token"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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

/// Where a client gets the credentials it signs with, asked just before each request is
/// signed. A source of temporary credentials refreshes them itself (the core does no
/// I/O); when a refresh fails it hands out the last ones, and S3's refusal of an expired
/// token pauses uploads like any refusal until a later refresh succeeds.
pub trait CredentialSource: Send + Sync + std::fmt::Debug {
    /// The credentials to sign the next request with.
    fn current(&self) -> Credentials;
}

/// Fixed credentials are their own source.
impl CredentialSource for Credentials {
    fn current(&self) -> Credentials {
        self.clone()
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

    /// Issue 23: temporary credentials are asked for before each signature, so a source
    /// that refreshes them is used by a long run.
    #[test]
    fn a_source_is_asked_before_each_signature() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        #[derive(Debug, Default)]
        struct Counting(AtomicUsize);
        impl CredentialSource for Counting {
            fn current(&self) -> Credentials {
                let n = self.0.fetch_add(1, Ordering::SeqCst);
                Credentials::new(format!("ASIAKEY{n}"), SECRET, Some("TOKEN".into()))
            }
        }
        let source = Arc::new(Counting::default());
        let cfg = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)
            .expect("valid config");
        let client = S3Client::with_source(&cfg, source.clone()).expect("client");
        let now = "2026-01-01T00:00:00Z".parse().expect("time");
        let get = client.get_object("k", now);
        let (put, _) = crate::s3::PutObject::new("k", b"x".to_vec()).sign(&client, now);
        assert!(
            get.url.as_str().contains("X-Amz-Credential=ASIAKEY0%2F"),
            "{}",
            get.url
        );
        assert!(
            put.url.as_str().contains("X-Amz-Credential=ASIAKEY1%2F"),
            "{}",
            put.url
        );
        assert_eq!(source.0.load(Ordering::SeqCst), 2);
        let dbg = format!("{client:?}");
        assert!(!dbg.contains(SECRET), "{dbg}");
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
