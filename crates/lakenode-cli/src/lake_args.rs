//! The flags that name a lake (`compact`, `report`): `--lake DIR`, or a bucket with the
//! same flags and credentials as `run`. Here, not in `lakenode-lake`: opening a bucket
//! needs the CLI's credentials and its HTTP transport.

use std::path::PathBuf;

use clap::Args;
use lakenode::s3::S3Config;
use lakenode_lake::lake::{LakeStore, LocalLake, S3Lake};

use crate::error::{CliError, CliResult};
use crate::transport::UreqTransport;

/// Where a tool finds the lake: `--lake DIR`, or an S3 bucket with the same flags and
/// credentials as `run`.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("where").required(true).args(["lake", "endpoint"]))]
pub struct LakeArgs {
    /// A local lake: the directory holding the `station=...` trees.
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// S3 endpoint of a lake in a bucket (with --bucket).
    #[arg(long, requires = "bucket")]
    pub endpoint: Option<String>,
    /// The lake's bucket.
    #[arg(long, requires = "endpoint")]
    pub bucket: Option<String>,
    /// Key prefix of the lake inside the bucket.
    #[arg(long, requires = "endpoint")]
    pub prefix: Option<String>,
    /// Signing region [default: AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's
    /// region, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Path-style URLs (needed for IP endpoints and most self-hosted stores).
    #[arg(long)]
    pub path_style: bool,
    /// Read credentials from this file (AWS shared-credentials format, mode 600) instead
    /// of the AWS chain (AWS_* variables, AWS_PROFILE and ~/.aws, SSO, roles).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// The section of --credentials-file to use.
    #[arg(long, default_value = "default", requires = "credentials_file")]
    pub credentials_profile: String,
    /// Allow plain http:// to an endpoint that is not on this machine (credentials and
    /// data then cross the network unencrypted).
    #[arg(long, requires = "endpoint")]
    pub allow_http: bool,
    /// Which CAs an https endpoint is checked against.
    #[command(flatten)]
    pub tls: crate::transport::TlsArgs,
}

impl LakeArgs {
    /// Opens the lake the flags name.
    ///
    /// # Errors
    /// A missing directory, invalid S3 flags or missing credentials.
    pub fn open(&self) -> CliResult<Box<dyn LakeStore>> {
        if let Some(dir) = &self.lake {
            if !dir.is_dir() {
                return Err(CliError::Usage(format!(
                    "{}: not a directory (give the directory holding station=... trees)",
                    dir.display()
                )));
            }
            if self.tls.given() {
                return Err(CliError::Usage(
                    "--ca-file and --tls-roots are for an S3 lake (--endpoint), not --lake".into(),
                ));
            }
            return Ok(Box::new(LocalLake::new(dir.clone())));
        }
        let (Some(endpoint), Some(bucket)) = (&self.endpoint, &self.bucket) else {
            return Err(CliError::Usage(
                "give --lake DIR or --endpoint URL --bucket B".into(),
            ));
        };
        let region = crate::aws::region(self.region.as_deref())?;
        let config = S3Config::new(endpoint, bucket, &region, self.path_style)?;
        if config.endpoint.scheme() == "http"
            && !crate::transport::is_loopback(&config.endpoint)
            && !self.allow_http
        {
            return Err(CliError::Usage(format!(
                "refusing plain http to {}: use https, or pass --allow-http if this network is trusted",
                config.endpoint
            )));
        }
        if let Some(p) = &self.prefix {
            lakenode::layout::Prefix::new(p)?;
        }
        let transport =
            UreqTransport::with_trust(std::time::Duration::from_secs(60), &self.tls.trust())?;
        let client = crate::aws::client(
            &config,
            self.credentials_file.as_deref(),
            &self.credentials_profile,
        )?;
        // More connections for reading many footers at once (`report` over months).
        let readers = (1..lakenode_lake::lake::TAIL_READERS)
            .map(|_| Box::new(transport.clone()) as Box<dyn lakenode::transport::Transport + Send>)
            .collect();
        // A connection for each worker of a compaction (the agent's pool lends each
        // request in flight a connection of its own).
        let for_workers = transport.clone();
        let workers: lakenode_lake::lake::TransportMaker =
            std::sync::Arc::new(move || Box::new(for_workers.clone()));
        Ok(Box::new(
            S3Lake::with_client(client, self.prefix.as_deref(), transport)
                .with_readers(readers)
                .with_workers(workers)
                .with_stop(crate::signals::stop_flag()),
        ))
    }
}
