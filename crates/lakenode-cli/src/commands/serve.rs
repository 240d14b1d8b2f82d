//! `lakenode serve`: the embedded, signature-checking S3 server as a process of its
//! own, for pointing `lakenode run` (or any S3 client) at it. Credentials come from
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, so the secret is never printed. It
//! serves only the `--bucket`s it is given (default `lake`) and listens on loopback
//! unless `--listen` says otherwise. `--policy FILE` limits the access key to an IAM
//! identity policy, as AWS would (`403 AccessDenied` for anything it does not allow).
//! `--tls-cert`/`--tls-key` serve https, to try clients against a private CA;
//! `--idle-timeout 5s` closes idle connections as S3 does (`scripts/air-bench.sh`).

use std::net::SocketAddr;

use lakenode_embedded_s3::{EmbeddedS3, ServerConfig};

use crate::ServeArgs;
use crate::credentials;
use crate::error::{CliError, CliResult};

/// Runs the server until the process is stopped.
///
/// # Errors
/// Missing credentials, an unusable directory or port, an unreadable or malformed
/// policy.
pub fn run(args: &ServeArgs) -> CliResult<()> {
    let (access_key, secret_key, _) = credentials::env_values()?;
    let mut config = ServerConfig::new(&args.data_dir, access_key, secret_key);
    config.addr = SocketAddr::new(args.listen, args.port);
    if !args.listen.is_loopback() {
        tracing::warn!(
            "listening on {}: other machines can reach this test server (see SECURITY.md)",
            args.listen
        );
    }
    for bucket in &args.bucket {
        // Validated like a client would; the server creates it as a directory.
        lakenode::s3::S3Config::new("http://127.0.0.1", bucket, "us-east-1", true)?;
        config = config.with_bucket(bucket.clone());
    }
    if let Some(path) = &args.policy {
        let json = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
        let key = config.access_key.clone();
        config = config.with_policy(key, json);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config = config.with_tls(cert, key);
    }
    if let Some(idle) = args.idle_timeout {
        config = config.with_idle_timeout(idle);
    }
    let server = EmbeddedS3::start(config).map_err(|e| match (&e, &args.policy) {
        (lakenode_embedded_s3::Error::Policy { .. }, Some(path)) => {
            CliError::Usage(format!("--policy {}: {e}", path.display()))
        }
        (lakenode_embedded_s3::Error::Tls { what, .. }, _) => {
            let flag = if *what == "key" {
                "--tls-key"
            } else {
                "--tls-cert"
            };
            CliError::Usage(format!("{flag}: {e}"))
        }
        _ => CliError::from(e),
    })?;
    // The one line scripts wait for; stdout is flushed at each newline on a terminal,
    // and explicitly here for pipes.
    println!("listening on {}", server.endpoint());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!("data in {}; stop with Ctrl-C", server.data_dir().display());
    loop {
        std::thread::park();
    }
}
