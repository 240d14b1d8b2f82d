//! Who signs and where, for the commands that talk to S3 (`run`, `compact`, `report`):
//! the region, and credentials from the standard AWS chain, as the AWS CLI and SDKs find
//! them, so a laptop on SSO or a cloud machine with a role needs no exported keys.
//!
//! Credentials, first match wins: `--credentials-file` (mode 600, checked as before);
//! then the chain of the official `aws-config` crate: `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`; the profile `AWS_PROFILE` names (or
//! `default`) in `~/.aws/credentials` and `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`,
//! `AWS_CONFIG_FILE`), with static keys, `credential_process`, SSO or an assumed role;
//! web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`); a container's role; an EC2 instance's
//! role (instance metadata; `AWS_EC2_METADATA_DISABLED=true` skips it).
//!
//! Region, first match wins: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the
//! profile's `region` in the config file, else `us-east-1`; the choice and where it came
//! from are logged. Not asked of instance metadata: off EC2 that probe costs seconds
//! on every command, and self-hosted stores mostly ignore the region anyway.
//!
//! Temporary credentials are refreshed: the client asks [`ChainSource`] before signing
//! each request, which hands out its cached credentials until [`REFRESH_BEFORE`] their
//! expiry and then asks the chain again. A failed refresh is logged and the last
//! credentials are used (S3's refusal pauses uploads like any refusal; the next
//! refresh is tried after [`RETRY_FAILED_REFRESH`]).
//!
//! ```no_run
//! # fn main() -> Result<(), lakenode_cli::error::CliError> {
//! // AWS_PROFILE=lake, with `region = eu-central-1` in ~/.aws/config:
//! let region = lakenode_cli::aws::region(None)?; // "eu-central-1", logged with its origin
//! let config = lakenode::s3::S3Config::new("https://s3.eu-central-1.amazonaws.com", "lake", &region, false)?;
//! let client = lakenode_cli::aws::client(&config, None, "default")?;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::meta::region::ProvideRegion as _;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::error::CredentialsError;
use lakenode::s3::{CredentialSource, Credentials, S3Client, S3Config};
use tracing::{info, warn};

use crate::error::{CliError, CliResult};

/// How long before their expiry temporary credentials are replaced: the buffer of the
/// AWS SDKs' own credentials cache, ample for a request signed just before it is sent.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(10);

/// After a failed refresh, how long the last credentials are used before the chain is
/// asked again (a failing `credential_process` is not run before every request).
pub const RETRY_FAILED_REFRESH: Duration = Duration::from_secs(5);

/// Longest wait for the chain (a hung `credential_process`, an unreachable endpoint).
pub const CHAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The region when nothing names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Resolves the signing region (see the module docs) and logs it with its origin.
///
/// # Errors
/// [`CliError::Failed`] if the async runtime cannot start.
pub fn region(flag: Option<&str>) -> CliResult<String> {
    let (region, origin) = region_with_origin(flag)?;
    info!("region {region} ({origin})");
    Ok(region)
}

fn region_with_origin(flag: Option<&str>) -> CliResult<(String, String)> {
    if let Some(r) = flag {
        return Ok((r.to_owned(), "from --region".into()));
    }
    // Read here rather than through aws-config's environment provider, to say which.
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(r) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
            return Ok((r.trim().to_owned(), format!("from {var}")));
        }
    }
    let profile = profile_name();
    let from_profile = runtime()?.block_on(async {
        ProfileFileRegionProvider::builder()
            .configure(&ProviderConfig::default())
            .build()
            .region()
            .await
    });
    Ok(match from_profile {
        Some(r) => (
            r.as_ref().to_owned(),
            format!("from profile {profile:?} of the AWS config file"),
        ),
        None => (
            DEFAULT_REGION.to_owned(),
            "the default: no --region, AWS_REGION, AWS_DEFAULT_REGION or profile region".into(),
        ),
    })
}

/// The profile the chain reads: `AWS_PROFILE`, else `default`.
fn profile_name() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// A client for `config` signing with `--credentials-file` (its `profile` section) if
/// given, else with credentials from the AWS chain, fetched once now (so missing
/// credentials stop the command before it starts) and refreshed as they expire.
///
/// # Errors
/// [`CliError::Usage`] for an unusable credentials file, or when the chain finds no
/// credentials or fails (the message names the chain's sources); [`CliError::Failed`]
/// if the async runtime cannot start.
pub fn client(config: &S3Config, file: Option<&Path>, profile: &str) -> CliResult<S3Client> {
    if let Some(path) = file {
        info!("credentials from {} [{profile}]", path.display());
        let credentials = crate::credentials::from_file(path, profile)?;
        return Ok(S3Client::new(config, credentials)?);
    }
    let source = ChainSource::new(&config.region)?;
    Ok(S3Client::with_source(config, Arc::new(source))?)
}

/// Credentials as the chain gives them: the core's, and when they expire.
type Fetched = (Credentials, Option<SystemTime>);

/// Asks the chain for credentials (blocking).
type Fetch = Box<dyn Fn() -> Result<Fetched, String> + Send + Sync>;

/// Credentials from the AWS chain, cached until near their expiry (see the module docs).
pub struct ChainSource {
    fetch: Fetch,
    cache: Mutex<Cache>,
}

struct Cache {
    credentials: Credentials,
    expires: Option<SystemTime>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for ChainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ChainSource")
            .field("credentials", &cache.credentials)
            .field("expires", &cache.expires)
            .finish_non_exhaustive()
    }
}

impl ChainSource {
    /// The default chain (STS and SSO calls in `region`), asked once now.
    ///
    /// # Errors
    /// As [`client`].
    pub fn new(region: &str) -> CliResult<Self> {
        let runtime = runtime()?;
        // rustls with ring, as the rest of the CLI: no aws-lc (C and cmake to
        // cross-build); the system's roots, for AWS's own endpoints (STS, SSO).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let chain = runtime.block_on(
            DefaultCredentialsChain::builder()
                .configure(ProviderConfig::default().with_http_client(http))
                .region(aws_config::Region::new(region.to_owned()))
                .build(),
        );
        let fetch: Fetch = Box::new(move || {
            let ask =
                async { tokio::time::timeout(CHAIN_TIMEOUT, chain.provide_credentials()).await };
            // `block_on` panics inside another runtime: then wait on a thread of our own.
            let answer = if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::scope(|s| s.spawn(|| runtime.block_on(ask)).join())
                    .map_err(|_| "the credentials thread panicked".to_owned())?
            } else {
                runtime.block_on(ask)
            };
            match answer {
                Ok(Ok(c)) => Ok((
                    Credentials::new(
                        c.access_key_id(),
                        c.secret_access_key(),
                        c.session_token().map(str::to_owned),
                    ),
                    c.expiry(),
                )),
                Ok(Err(e)) => Err(describe(&e)),
                Err(_) => Err(format!(
                    "the AWS credential chain gave no answer within {} s",
                    CHAIN_TIMEOUT.as_secs()
                )),
            }
        });
        let source = Self::with_fetch(fetch)?;
        let expires = source
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expires;
        let how = match expires {
            Some(t) => match jiff::Timestamp::try_from(t) {
                Ok(t) => format!("temporary, refreshed before they expire (next at {t:.0})"),
                Err(_) => "temporary, refreshed before they expire".into(),
            },
            None => "long-term".into(),
        };
        let from = if std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()) {
            "the AWS_* environment variables".to_owned()
        } else {
            format!("the AWS chain, profile {:?}", profile_name())
        };
        info!("credentials from {from}: {how}");
        Ok(source)
    }

    /// A source asking `fetch`, asked once now.
    fn with_fetch(fetch: Fetch) -> CliResult<Self> {
        let (credentials, expires) = fetch().map_err(CliError::Usage)?;
        Ok(Self {
            fetch,
            cache: Mutex::new(Cache {
                credentials,
                expires,
                failed_at: None,
            }),
        })
    }

    /// The credentials to sign with at `now` (wall clock, compared with the expiry),
    /// refreshed if they expire within [`REFRESH_BEFORE`].
    fn current_at(&self, now: SystemTime) -> Credentials {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = cache.expires.is_none_or(|t| {
            t.duration_since(now)
                .is_ok_and(|left| left > REFRESH_BEFORE)
        });
        let resting = cache
            .failed_at
            .is_some_and(|t| t.elapsed() < RETRY_FAILED_REFRESH);
        if fresh || resting {
            return cache.credentials.clone();
        }
        match (self.fetch)() {
            Ok((credentials, expires)) => {
                tracing::debug!("refreshed the temporary AWS credentials");
                *cache = Cache {
                    credentials,
                    expires,
                    failed_at: None,
                };
            }
            Err(e) => {
                warn!("cannot refresh the AWS credentials, signing with the last ones: {e}");
                cache.failed_at = Some(Instant::now());
            }
        }
        cache.credentials.clone()
    }
}

impl CredentialSource for ChainSource {
    fn current(&self) -> Credentials {
        self.current_at(SystemTime::now())
    }
}

/// The chain's error with its causes, and for no credentials at all, where they are
/// looked for. aws-config's messages name providers and files, never a secret.
fn describe(e: &CredentialsError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if matches!(e, CredentialsError::CredentialsNotLoaded(_)) {
        format!(
            "no AWS credentials found: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             or set AWS_PROFILE to a profile of ~/.aws/credentials or ~/.aws/config \
             (keys, credential_process, SSO, a role), or give --credentials-file (mode 600); \
             tried the environment, profile {:?}, web identity, container and instance roles ({text})",
            profile_name()
        )
    } else {
        format!("the AWS credential chain failed: {text}")
    }
}

/// A runtime for aws-config's async providers, used only while asking them.
fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the AWS credentials runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source whose fetches are counted and expire `life` after the first one's
    /// `t0`, each later one `life` after the previous expiry (a fake clock).
    fn counting(
        t0: SystemTime,
        life: Option<Duration>,
        fail_after: usize,
    ) -> (ChainSource, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let fetch: Fetch = Box::new(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n >= fail_after {
                return Err("the process exited 1".into());
            }
            let expires = life.map(|l| t0 + l * u32::try_from(n + 1).unwrap_or(1));
            Ok((Credentials::new(format!("ASIA{n}"), "s", None), expires))
        });
        (ChainSource::with_fetch(fetch).expect("first fetch"), calls)
    }

    #[test]
    fn temporary_credentials_are_cached_until_near_expiry_then_refreshed() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let life = Duration::from_secs(60);
        let (source, calls) = counting(t0, Some(life), usize::MAX);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let early = t0 + life - REFRESH_BEFORE - Duration::from_secs(1);
        assert_eq!(source.current_at(t0).key(), "ASIA0");
        assert_eq!(source.current_at(early).key(), "ASIA0");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "cached while valid");
        let near = t0 + life - REFRESH_BEFORE + Duration::from_secs(1);
        assert_eq!(source.current_at(near).key(), "ASIA1");
        assert_eq!(source.current_at(near).key(), "ASIA1");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "refreshed once");
        // After expiry too (a run that slept past it).
        assert_eq!(source.current_at(t0 + life * 5).key(), "ASIA2");
    }

    #[test]
    fn long_term_credentials_are_fetched_once() {
        let t0 = SystemTime::UNIX_EPOCH;
        let (source, calls) = counting(t0, None, usize::MAX);
        for days in 0..3 {
            source.current_at(t0 + Duration::from_secs(days * 86_400));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_credentials_and_rests() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (source, calls) = counting(t0, Some(Duration::from_secs(60)), 1);
        let later = t0 + Duration::from_secs(120);
        assert_eq!(source.current_at(later).key(), "ASIA0");
        assert_eq!(source.current_at(later).key(), "ASIA0");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "not asked again at once");
    }

    #[test]
    fn no_credentials_at_all_names_the_chain() {
        let msg = describe(&CredentialsError::not_loaded_no_source());
        for part in ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "--credentials-file"] {
            assert!(msg.contains(part), "{msg}");
        }
    }
}
