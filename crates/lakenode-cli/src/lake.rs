//! Where a lake lives for the tools that read or rewrite it (`compact`, later
//! `report`): a local directory holding the `station=...` trees, or an S3 bucket.
//! Both behind one small trait, so the tools are written once and tested against
//! both (the S3 side against the embedded, signature-checking server).
//!
//! ```no_run
//! use lakenode_cli::lake::{LakeStore, LocalLake};
//! let mut lake = LocalLake::new("lakenode-demo/s3/lakenode".into());
//! for (key, size) in lake.list("station=")? {
//!     println!("{key}: {size} bytes");
//! }
//! # Ok::<(), lakenode_cli::error::CliError>(())
//! ```

use std::path::{Path, PathBuf};

use clap::Args;
use lakenode::clock::{SystemClock, WallClock as _};
use lakenode::s3::{S3Client, S3Config, check_response, parse_list};
use lakenode::transport::Transport as _;

use crate::error::{CliError, CliResult};
use crate::transport::UreqTransport;

/// Objects of a lake: list, read, replace, remove. Keys are relative to the lake's
/// root (the bucket plus the prefix, or the directory).
pub trait LakeStore {
    /// The lake, for messages (a directory or `s3://bucket/prefix`).
    fn describe(&self) -> String;
    /// Every object whose key starts with `prefix`, as (key, size), in key order.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn list(&mut self, prefix: &str) -> CliResult<Vec<(String, u64)>>;
    /// An object's bytes.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn get(&mut self, key: &str) -> CliResult<Vec<u8>>;
    /// Writes an object, replacing any with that key atomically (readers see the old
    /// or the new bytes, never a mix).
    ///
    /// # Errors
    /// IO or S3 failures.
    fn put(&mut self, key: &str, body: Vec<u8>) -> CliResult<()>;
    /// Removes an object; removing one that is gone is not an error.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn delete(&mut self, key: &str) -> CliResult<()>;
    /// Entries the last [`LakeStore::list`] passed over because they are not plain
    /// objects (a symlink or device in a local lake), for the tools to report.
    fn anomalies(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A lake in a local directory (as `s3s-fs` or a synced bucket stores it).
#[derive(Debug)]
pub struct LocalLake {
    root: PathBuf,
    anomalies: Vec<String>,
}

impl LocalLake {
    /// The lake under `root`.
    #[must_use]
    pub const fn new(root: PathBuf) -> Self {
        Self {
            root,
            anomalies: Vec::new(),
        }
    }

    fn path(&self, key: &str) -> CliResult<PathBuf> {
        if key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(CliError::Usage(format!("{key}: not a lake key")));
        }
        Ok(self.root.join(key))
    }
}

impl LakeStore for LocalLake {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&mut self, prefix: &str) -> CliResult<Vec<(String, u64)>> {
        let mut out = Vec::new();
        self.anomalies.clear();
        let mut stack = vec![(self.root.clone(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| CliError::io(&dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| CliError::io(&dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                // Hidden files are temporaries and s3s-fs's metadata, not objects.
                if name.starts_with('.') {
                    continue;
                }
                let key = format!("{rel}{name}");
                let kind = entry
                    .file_type()
                    .map_err(|e| CliError::io(entry.path(), e))?;
                if kind.is_dir() {
                    let sub = format!("{key}/");
                    if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                        stack.push((entry.path(), sub));
                    }
                } else if kind.is_file() && key.starts_with(prefix) {
                    let size = entry
                        .metadata()
                        .map_err(|e| CliError::io(entry.path(), e))?
                        .len();
                    out.push((key, size));
                } else if !kind.is_file() && key.starts_with(prefix) {
                    // Never followed: a link could lead out of the lake, and deleting
                    // it after a merge would not remove what it points to.
                    self.anomalies.push(format!(
                        "{key}: a symbolic link or special file, not an object; left alone"
                    ));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn get(&mut self, key: &str) -> CliResult<Vec<u8>> {
        let path = self.path(key)?;
        std::fs::read(&path).map_err(|e| CliError::io(&path, e))
    }

    fn put(&mut self, key: &str, body: Vec<u8>) -> CliResult<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
        }
        let mut out = crate::output::OutputFile::create(&path, &[])?;
        std::io::Write::write_all(&mut out, &body).map_err(|e| out.error(e))?;
        out.commit()?;
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        Ok(())
    }

    fn anomalies(&self) -> Vec<String> {
        self.anomalies.clone()
    }

    fn delete(&mut self, key: &str) -> CliResult<()> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(path.parent().unwrap_or(Path::new(".")));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CliError::io(&path, e)),
        }
    }
}

/// Makes a rename or removal durable where directories can be synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A lake in an S3 bucket, under an optional prefix.
pub struct S3Lake {
    client: S3Client,
    transport: UreqTransport,
    prefix: String,
    bucket: String,
}

impl std::fmt::Debug for S3Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl S3Lake {
    /// The lake in `config`'s bucket under `prefix` (empty: the bucket's root).
    ///
    /// # Errors
    /// The core's message for an endpoint the client cannot address.
    pub fn new(
        config: &S3Config,
        credentials: lakenode::s3::Credentials,
        prefix: Option<&str>,
        timeout: std::time::Duration,
    ) -> CliResult<Self> {
        let prefix = prefix
            .map(|p| format!("{}/", p.trim_end_matches('/')))
            .unwrap_or_default();
        Ok(Self {
            client: S3Client::new(config, credentials)?,
            transport: UreqTransport::new(timeout),
            prefix,
            bucket: config.bucket.clone(),
        })
    }

    fn call(
        &mut self,
        what: &str,
        request: &lakenode::transport::HttpRequest,
    ) -> CliResult<Vec<u8>> {
        let response = self
            .transport
            .send(request)
            .map_err(|e| CliError::Verify(format!("{what}: {e}")))?;
        check_response(&response).map_err(|f| CliError::Verify(format!("{what}: {f}")))?;
        Ok(response.body)
    }
}

impl LakeStore for S3Lake {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn list(&mut self, prefix: &str) -> CliResult<Vec<(String, u64)>> {
        let full = format!("{}{prefix}", self.prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_objects(&full, token.as_deref(), SystemClock.now());
            let body = self.call(&format!("listing {full}"), &request)?;
            let page = parse_list(&body)?;
            for (key, size) in page.objects {
                if let Some(rel) = key.strip_prefix(&self.prefix) {
                    out.push((rel.to_owned(), size));
                }
            }
            match page.next {
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(CliError::Verify(format!(
                        "listing {full}: the server repeated its continuation token; the \
                         listing would be incomplete"
                    )));
                }
                Some(next) => token = Some(next),
                None => break,
            }
        }
        out.sort();
        Ok(out)
    }

    fn get(&mut self, key: &str) -> CliResult<Vec<u8>> {
        let full = format!("{}{key}", self.prefix);
        let request = self.client.get_object(&full, SystemClock.now());
        let response = self
            .transport
            .send(&request)
            .map_err(|e| CliError::Verify(format!("downloading {full}: {e}")))?;
        match check_response(&response) {
            Ok(()) => Ok(response.body),
            // Gone since it was listed (a compaction merged it): as on a local disk.
            Err(f) if f.code == "NoSuchKey" => Err(CliError::io(
                &full,
                std::io::Error::new(std::io::ErrorKind::NotFound, f.to_string()),
            )),
            Err(f) => Err(CliError::Verify(format!("downloading {full}: {f}"))),
        }
    }

    fn put(&mut self, key: &str, body: Vec<u8>) -> CliResult<()> {
        let full = format!("{}{key}", self.prefix);
        let request = self.client.put_object(&full, body, SystemClock.now());
        self.call(&format!("uploading {full}"), &request).map(drop)
    }

    fn delete(&mut self, key: &str) -> CliResult<()> {
        let full = format!("{}{key}", self.prefix);
        let request = self.client.delete_object(&full, SystemClock.now());
        self.call(&format!("deleting {full}"), &request).map(drop)
    }
}

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
    /// Signing region.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Path-style URLs (needed for IP endpoints and most self-hosted stores).
    #[arg(long)]
    pub path_style: bool,
    /// Read credentials from this file (mode 600) instead of the AWS_* variables.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// The section of --credentials-file to use.
    #[arg(long, default_value = "default", requires = "credentials_file")]
    pub credentials_profile: String,
    /// Allow plain http:// to an endpoint that is not on this machine (credentials and
    /// data then cross the network unencrypted).
    #[arg(long, requires = "endpoint")]
    pub allow_http: bool,
}

/// Whether `e` says the object is not there (any more).
#[must_use]
pub fn is_not_found(e: &CliError) -> bool {
    matches!(e, CliError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
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
            return Ok(Box::new(LocalLake::new(dir.clone())));
        }
        let (Some(endpoint), Some(bucket)) = (&self.endpoint, &self.bucket) else {
            return Err(CliError::Usage(
                "give --lake DIR or --endpoint URL --bucket B".into(),
            ));
        };
        let config = S3Config::new(endpoint, bucket, &self.region, self.path_style)?;
        if config.endpoint.scheme() == "http"
            && !crate::transport::is_loopback(&config.endpoint)
            && !self.allow_http
        {
            return Err(CliError::Usage(format!(
                "refusing plain http to {}: use https, or pass --allow-http if this network is trusted",
                config.endpoint
            )));
        }
        let credentials = match &self.credentials_file {
            Some(f) => crate::credentials::from_file(f, &self.credentials_profile)?,
            None => crate::credentials::from_env()?,
        };
        if let Some(p) = &self.prefix {
            lakenode::layout::Prefix::new(p)?;
        }
        Ok(Box::new(S3Lake::new(
            &config,
            credentials,
            self.prefix.as_deref(),
            std::time::Duration::from_secs(60),
        )?))
    }
}
