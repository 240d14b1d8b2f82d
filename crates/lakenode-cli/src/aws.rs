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
//! The wait for the chain ends at [`CHAIN_TIMEOUT`] or at SIGTERM/SIGINT (the CLI's stop
//! flag): `compact` and `report` then exit 4. What a source printed or answered is never
//! shown: aws-config quotes a failing `credential_process`'s stderr in its error, which
//! may hold a secret, so the CLI cuts its messages there. The selected profile's own
//! `credential_process` is run by lakenode ([`process`]), which ends it and what it
//! started when the wait ends: aws-config spawns it without `kill_on_drop` and gives no
//! handle to it, so a hung one outlived lakenode. One run for a profile an assumed role
//! starts from is still aws-config's (documented in the README and SECURITY.md).
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::ProvideRegion as _;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use lakenode::s3::{CredentialSource, Credentials, S3Client, S3Config};
use tracing::{info, warn};

use crate::error::{CliError, CliResult};

pub mod process;

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

/// Credentials as the chain gives them: the core's, when they expire, and the source
/// that gave them.
struct Fetched {
    credentials: Credentials,
    expires: Option<SystemTime>,
    from: String,
}

/// Why the chain gave no credentials.
#[derive(Debug)]
enum FetchError {
    /// A signal asked to stop while waiting.
    Stopped,
    /// The chain failed or timed out (the text holds no secret: see [`describe`]).
    Failed(String),
}

/// Asks the chain for credentials (blocking).
type Fetch = Box<dyn Fn() -> Result<Fetched, FetchError> + Send + Sync>;

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
        // cross-build); the system's roots, for AWS's own endpoints (STS, SSO). Asked
        // for only where the system has some: the client asserts (a panic in a debug
        // build) that native roots, once enabled, hold a certificate, and a machine
        // without ca-certificates, or SSL_CERT_FILE set wrong, would stop there. With
        // none, an STS or SSO call fails on its certificate; every other source works.
        // A bad SSL_CERT_FILE: no native roots here; the transport says what is wrong.
        let native = crate::transport::native_certs().is_ok_and(|f| !f.certs.is_empty());
        let tls = aws_smithy_http_client::tls::TlsContext::builder()
            .with_trust_store(
                aws_smithy_http_client::tls::TrustStore::empty().with_native_roots(native),
            )
            .build()
            .map_err(|e| {
                CliError::Usage(format!("the AWS credential chain's TLS settings: {e}"))
            })?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(tls)
            .build_https();
        // The profile's own `credential_process` is run by lakenode, which ends it when
        // the wait ends ([`process`]); after the environment, as in the default chain.
        let chain = match runtime.block_on(process::command_of_selected_profile()) {
            Some(command) => SharedCredentialsProvider::new(
                CredentialsProviderChain::first_try(
                    "Environment",
                    EnvironmentVariableCredentialsProvider::new(),
                )
                .or_else("CredentialProcess", process::Process::new(command)),
            ),
            None => SharedCredentialsProvider::new(
                runtime.block_on(
                    DefaultCredentialsChain::builder()
                        .configure(ProviderConfig::default().with_http_client(http))
                        .region(aws_config::Region::new(region.to_owned()))
                        .build(),
                ),
            ),
        };
        let stop = crate::signals::stop_flag();
        let fetch: Fetch = Box::new(move || {
            if stop.load(Ordering::Relaxed) {
                return Err(FetchError::Stopped);
            }
            // Wakes on SIGTERM/SIGINT too: a hung `credential_process` must not hold a
            // stopping command for the whole timeout.
            let ask = async {
                tokio::select! {
                    answer = tokio::time::timeout(CHAIN_TIMEOUT, chain.provide_credentials()) => Some(answer),
                    () = stop_requested(&stop) => None,
                }
            };
            // `block_on` panics inside another runtime: then wait on a thread of our own.
            let answer = if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::scope(|s| s.spawn(|| runtime.block_on(ask)).join())
                    .map_err(|_| FetchError::Failed("the credentials thread panicked".to_owned()))?
            } else {
                runtime.block_on(ask)
            };
            match answer {
                None => Err(FetchError::Stopped),
                Some(Ok(Ok(c))) => Ok(Fetched {
                    credentials: Credentials::new(
                        c.access_key_id(),
                        c.secret_access_key(),
                        c.session_token().map(str::to_owned),
                    ),
                    expires: c.expiry(),
                    from: source_of(&c),
                }),
                Some(Ok(Err(e))) => Err(FetchError::Failed(describe(&e))),
                Some(Err(_)) => Err(FetchError::Failed(format!(
                    "the AWS credential chain gave no answer within {} s",
                    CHAIN_TIMEOUT.as_secs()
                ))),
            }
        });
        let (source, from) = Self::with_fetch(fetch)?;
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
        info!("credentials from {from}: {how}");
        Ok(source)
    }

    /// A source asking `fetch`, asked once now; and where its credentials came from.
    fn with_fetch(fetch: Fetch) -> CliResult<(Self, String)> {
        let first = fetch().map_err(|e| match e {
            FetchError::Stopped => CliError::Interrupted(
                "stopped by a signal while waiting for the AWS credential chain; nothing was done"
                    .into(),
            ),
            FetchError::Failed(m) => CliError::Usage(m),
        })?;
        let source = Self {
            fetch,
            cache: Mutex::new(Cache {
                credentials: first.credentials,
                expires: first.expires,
                failed_at: None,
            }),
        };
        Ok((source, first.from))
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
            Ok(Fetched {
                credentials,
                expires,
                ..
            }) => {
                tracing::debug!("refreshed the temporary AWS credentials");
                *cache = Cache {
                    credentials,
                    expires,
                    failed_at: None,
                };
            }
            Err(FetchError::Failed(e)) => {
                warn!("cannot refresh the AWS credentials, signing with the last ones: {e}");
                cache.failed_at = Some(Instant::now());
            }
            // The run is stopping: the last credentials sign what is left.
            Err(FetchError::Stopped) => cache.failed_at = Some(Instant::now()),
        }
        cache.credentials.clone()
    }
}

impl CredentialSource for ChainSource {
    fn current(&self) -> Credentials {
        self.current_at(SystemTime::now())
    }
}

/// Resolves once a signal asked to stop (the flag is polled: signal-hook sets it from
/// the handler, with nothing to await).
async fn stop_requested(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Which source of the chain gave `c`, from the features aws-config records on them
/// (the environment provider may fail over to a profile, so the environment alone
/// does not say).
fn source_of(c: &aws_credential_types::Credentials) -> String {
    use aws_credential_types::credential_feature::AwsCredentialFeature as F;
    let features = c
        .get_property::<Vec<F>>()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let has = |f: F| features.contains(&f);
    if has(F::CredentialsEnvVars) {
        return "the AWS_* environment variables".into();
    }
    if has(F::CredentialsProfile) {
        let how = if has(F::CredentialsProcess) {
            "credential_process"
        } else if has(F::CredentialsSso) {
            "SSO"
        } else if has(F::CredentialsStsAssumeRole) {
            "an assumed role"
        } else if has(F::CredentialsProfileStsWebIdToken) {
            "web identity"
        } else {
            "keys"
        };
        return format!(
            "profile {:?} of the AWS shared files ({how})",
            profile_name()
        );
    }
    if has(F::CredentialsProfileStsWebIdToken) || has(F::CredentialsStsAssumeRoleWebId) {
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".into()
    } else if has(F::CredentialsHttp) {
        "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_*)".into()
    } else if has(F::CredentialsImds) {
        "the EC2 instance role (instance metadata)".into()
    } else {
        "the AWS credential chain".into()
    }
}

/// Where aws-config's messages quote what a credentials source printed or answered: a
/// failed `credential_process`'s stderr, its unparsable stdout, a JSON token of a
/// container endpoint's reply. Any of these may hold a secret, so the message is cut
/// there. Hand-written: aws-config offers no redacted form of these errors.
const QUOTES_OUTPUT: [&str; 3] = ["Stderr:", "could not parse response:", "found:"];

/// `text` cut where it would quote a source's output (see [`QUOTES_OUTPUT`]).
fn scrub(text: &str) -> String {
    match QUOTES_OUTPUT.iter().filter_map(|m| text.find(m)).min() {
        Some(at) => format!(
            "{} (its output is not shown: it may hold a secret)",
            text[..at].trim_end_matches([' ', '.', ':'])
        ),
        None => text.to_owned(),
    }
}

/// The chain's error with its causes (each [`scrub`]bed: never a secret a source
/// printed), and for no credentials at all, where they are looked for.
fn describe(e: &CredentialsError) -> String {
    let mut text = scrub(&e.to_string());
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&scrub(&c.to_string()));
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
                return Err(FetchError::Failed("the process exited 1".into()));
            }
            let expires = life.map(|l| t0 + l * u32::try_from(n + 1).unwrap_or(1));
            Ok(Fetched {
                credentials: Credentials::new(format!("ASIA{n}"), "s", None),
                expires,
                from: "a test".into(),
            })
        });
        (
            ChainSource::with_fetch(fetch).expect("first fetch").0,
            calls,
        )
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
    fn a_credential_process_output_is_never_quoted() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        for text in [
            format!(
                "Error retrieving credentials: external process exited with code exit status: 3. Stderr: {secret}"
            ),
            format!(
                "Error retrieving credentials from external process, could not parse response: expected object key, found: {secret}"
            ),
            format!(
                "unexpected error: expected object key, found: Some(ValueString {{ value: {secret:?} }})"
            ),
        ] {
            let msg = describe(&CredentialsError::provider_error(text));
            assert!(!msg.contains(secret), "{msg}");
            assert!(msg.contains("its output is not shown"), "{msg}");
        }
        let kept = "the profile \"nope\" was not found";
        assert!(describe(&CredentialsError::provider_error(kept)).contains(kept));
    }

    #[test]
    fn the_source_named_is_the_one_that_gave_the_credentials() {
        use aws_credential_types::credential_feature::AwsCredentialFeature as F;
        let with = |features: Vec<F>| {
            let mut c = aws_credential_types::Credentials::new("AKID", "s", None, None, "test");
            c.set_property(features);
            source_of(&c)
        };
        assert!(with(vec![F::CredentialsEnvVars]).contains("environment"));
        assert!(with(vec![F::CredentialsProfile]).contains("(keys)"));
        assert!(
            with(vec![F::CredentialsProcess, F::CredentialsProfile]).contains("credential_process")
        );
        assert!(with(vec![F::CredentialsHttp]).contains("container"));
        assert!(with(vec![F::CredentialsImds]).contains("instance"));
    }

    #[test]
    fn no_credentials_at_all_names_the_chain() {
        let msg = describe(&CredentialsError::not_loaded_no_source());
        for part in ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "--credentials-file"] {
            assert!(msg.contains(part), "{msg}");
        }
    }
}
