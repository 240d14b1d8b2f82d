//! A profile's `credential_process`, run by lakenode rather than by aws-config, so that
//! it never outlives the wait for it.
//!
//! Why: aws-config runs the command with `tokio::process::Command::output()`, without
//! `kill_on_drop` and with no handle to the child. When the wait ended (the chain's
//! 30 s timeout, SIGTERM), the future was dropped and a hung process, with whatever it
//! had started, went on running after lakenode had exited. Here the child is spawned
//! the same way (`sh -c <command>`, stdin closed, stdout and stderr read whole) and a
//! guard ends it and every process below it when the wait is dropped before it exited.
//! Not in a process group of its own: a helper that prompts on the terminal (MFA)
//! would then be stopped by SIGTTIN; so its descendants are found in `/proc` (Linux;
//! elsewhere only the process itself is ended).
//!
//! Used where aws-config would run the command as the selected profile's own source
//! ([`command_of_selected_profile`]); a `credential_process` of a profile an assumed
//! role starts from is still run by aws-config (README, "Running a node against S3").
//!
//! ```no_run
//! # async fn f() {
//! use aws_credential_types::provider::ProvideCredentials as _;
//! let process = lakenode_cli::aws::process::Process::new("my-helper --json".into());
//! // Dropped after 5 s: `my-helper` and its children are ended.
//! let answer = tokio::time::timeout(std::time::Duration::from_secs(5), process.provide_credentials()).await;
//! # }
//! ```

use std::process::Stdio;

use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, future};

/// Profile keys that make aws-config use another source than the profile's
/// `credential_process` (an assumed role, SSO, web identity, a named source, a login).
const OTHER_SOURCES: [&str; 7] = [
    "role_arn",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "login_session",
];

/// The `credential_process` of the selected profile (`AWS_PROFILE`, else `default`, in
/// the shared files), if aws-config would run it as that profile's source.
pub async fn command_of_selected_profile() -> Option<String> {
    use aws_types::os_shim_internal::{Env, Fs};
    #[allow(deprecated)] // the type `load` takes in this aws-config version
    let files = aws_config::profile::profile_file::ProfileFiles::default();
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .ok()?;
    let profile = set.get_profile(set.selected_profile())?;
    if OTHER_SOURCES.iter().any(|k| profile.get(k).is_some()) {
        return None;
    }
    profile.get("credential_process").map(str::to_owned)
}

/// Runs a `credential_process` command for each request for credentials.
#[derive(Debug)]
pub struct Process {
    command: String,
}

impl Process {
    /// A provider running `command` with `sh -c`.
    #[must_use]
    pub const fn new(command: String) -> Self {
        Self { command }
    }

    async fn run(&self) -> provider::Result {
        let failed = |what: String| {
            CredentialsError::provider_error(format!(
                "Error retrieving credentials from external process: {what}"
            ))
        };
        // Not `kill_on_drop`: the guard ends the child, after finding what it started
        // (killed and reaped first, its children would be the init process's).
        let child = tokio::process::Command::new("sh")
            .args(["-c", &self.command])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        let mut guard = Guard(child.id());
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| failed(e.to_string()))?;
        // Exited: whatever it left running is its own business (a credential cache
        // daemon, say), and its pid may be reused from now on.
        guard.0 = None;
        let (status, stdout, stderr) = (output.status, output.stdout, output.stderr);
        if !status.success() {
            // Worded as aws-config words it: the CLI cuts its messages at `Stderr:`.
            return Err(CredentialsError::provider_error(format!(
                "Error retrieving credentials: external process exited with code {status}. \
                 Stderr: {}",
                String::from_utf8_lossy(&stderr)
            )));
        }
        parse(&stdout).map_err(|why| {
            CredentialsError::provider_error(format!(
                "Error retrieving credentials from external process, could not parse \
                 response: {why}"
            ))
        })
    }
}

impl ProvideCredentials for Process {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.run())
    }
}

/// The process's JSON answer (`Version` 1: `AccessKeyId`, `SecretAccessKey`, optional
/// `SessionToken` and RFC 3339 `Expiration`; keys in any case, as aws-config reads
/// them). Its text is never quoted in an error: it may hold a secret.
fn parse(stdout: &[u8]) -> Result<aws_credential_types::Credentials, String> {
    let value: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| format!("not JSON (line {})", e.line()))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let field = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| -> Result<Option<String>, String> {
        match field(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} is not a string")),
        }
    };
    match field("Version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => return Err("unsupported Version (only 1 is)".into()),
        None => return Err("no Version".into()),
    }
    let key = text("AccessKeyId")?.ok_or("no AccessKeyId")?;
    let secret = text("SecretAccessKey")?.ok_or("no SecretAccessKey")?;
    let expiry = match text("Expiration")? {
        Some(t) => {
            let t: jiff::Timestamp = t.parse().map_err(|_| "Expiration is not RFC 3339")?;
            Some(std::time::SystemTime::from(t))
        }
        None => None,
    };
    let mut credentials = aws_credential_types::Credentials::new(
        key,
        secret,
        text("SessionToken")?,
        expiry,
        "CredentialProcess",
    );
    // As aws-config marks them: where they came from is logged (`source_of`).
    credentials
        .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
        .extend([
            AwsCredentialFeature::CredentialsProfile,
            AwsCredentialFeature::CredentialsProcess,
        ]);
    Ok(credentials)
}

/// Ends a child and its descendants when dropped while it still runs.
struct Guard(Option<u32>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(root) = self.0 {
            kill_tree(root);
        }
    }
}

/// SIGKILLs `root` and every process below it. The root is stopped first, so that it
/// starts no new process while the others are found.
fn kill_tree(root: u32) {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process};
        let pid = |p: u32| i32::try_from(p).ok().and_then(Pid::from_raw);
        let Some(root_pid) = pid(root) else {
            return;
        };
        let _ = kill_process(root_pid, Signal::STOP);
        for p in descendants(root) {
            if let Some(p) = pid(p) {
                let _ = kill_process(p, Signal::KILL);
            }
        }
        let _ = kill_process(root_pid, Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = root;
}

/// The processes below `root`, from each process's parent in `/proc/<pid>/stat`
/// (Linux; none elsewhere). Hand-written: a few lines against a crate (`procfs`,
/// `sysinfo`) that would read far more.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parents = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `pid (comm) state ppid ...`; the name may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's timeout drops the wait: the process and the one it started are
    /// ended at once, not left running.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_hung_process_and_its_children_end_when_the_wait_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("pids");
        let command = format!(
            "echo $$ >> '{0}'; sleep 60 & echo $! >> '{0}'; wait",
            pids.display()
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let process = Process::new(command);
        let answer = runtime.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(1),
                process.provide_credentials(),
            )
            .await
        });
        assert!(answer.is_err(), "timed out");
        let listed = std::fs::read_to_string(&pids).expect("pids");
        let listed: Vec<u32> = listed.lines().filter_map(|l| l.parse().ok()).collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while listed.iter().any(|&p| running(p)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for p in listed {
            assert!(!running(p), "{p} still runs");
        }
    }

    /// Whether `pid` runs (exists and is not a zombie waiting to be reaped).
    #[cfg(target_os = "linux")]
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "Z" || state == "X")
        })
    }

    #[test]
    fn an_answer_is_read_as_aws_config_reads_it() {
        let c = parse(
            br#"{"Version": 1, "accessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "s",
                 "SessionToken": "t", "Expiration": "2026-12-04T01:00:00Z"}"#,
        )
        .expect("parsed");
        assert_eq!(c.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(c.session_token(), Some("t"));
        assert!(c.expiry().is_some());
        for bad in [
            &br#"{"Version": 2}"#[..],
            b"secret words",
            br#"{"Version": 1}"#,
        ] {
            let why = parse(bad).expect_err("refused");
            assert!(!why.contains("secret"), "{why}");
        }
    }
}
