//! The AWS credential and region chain (issue 23, item 1), through the binary against
//! the embedded S3 server on 127.0.0.1, which here refuses requests signed for another
//! region than its own, as AWS does. Each child gets no `AWS_*` variable it does not
//! set, a `HOME` in a temporary directory, and instance metadata disabled: nothing
//! leaves loopback.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const STATION: &str = "0190f5c2-0000-7000-8000-000000002301";
const REGION: &str = "eu-central-1";

/// An embedded server of bucket `lake` in `REGION`, accepting the example keys.
fn regional_server(dir: &Path) -> lakenode_embedded_s3::EmbeddedS3 {
    lakenode_embedded_s3::EmbeddedS3::start(
        lakenode_embedded_s3::ServerConfig::new(dir, KEY, SECRET)
            .with_bucket("lake")
            .with_region(REGION),
    )
    .unwrap()
}

/// A `HOME` holding `~/.aws/credentials` and `~/.aws/config` with these texts.
fn aws_home(root: &Path, credentials: &str, config: &str) -> PathBuf {
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/credentials"), credentials).unwrap();
    std::fs::write(home.join(".aws/config"), config).unwrap();
    home
}

/// `lakenode` with the AWS chain reading `home`'s `~/.aws` (no `AWS_*` keys, instance
/// metadata off), and these extra variables.
fn lakenode_at_home(home: &Path, vars: &[(&str, &str)]) -> Command {
    let mut c = lakenode();
    c.env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env("HOME", home);
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// A finite simulated run of 1 hour (four 15-minute data files) to bucket `lake`.
fn finite_run(mut c: Command, endpoint: &str, spool: &Path, extra: &[&str]) -> Command {
    c.args([
        "run",
        "--endpoint",
        endpoint,
        "--bucket",
        "lake",
        "--path-style",
    ])
    .args(["--station", STATION, "--spool"])
    .arg(spool)
    .args(["--simulate", "7", "--start", "2026-07-01T12:00:00Z"])
    .args(["--duration", "1h", "--give-up-after", "2s"])
    .args(extra);
    c
}

/// The Parquet objects the server stores.
fn objects(s3: &lakenode_embedded_s3::EmbeddedS3) -> usize {
    files_with_extension(&s3.data_dir().join("lake"), "parquet").len()
}

const PROFILE_CREDENTIALS: &str = "[lake]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\
     aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";

/// The Done-when of item 1: with no `AWS_*` keys, `AWS_PROFILE=lake` and the `~/.aws`
/// files deliver a run, signed for the profile's region; the same keys signed for
/// another region are refused by the server.
#[test]
fn a_profile_in_the_shared_files_delivers_a_run_in_its_region() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = regional_server(&tmp.path().join("s3"));
    let home = aws_home(
        tmp.path(),
        PROFILE_CREDENTIALS,
        &format!("[profile lake]\nregion = {REGION}\n"),
    );
    let profile = [("AWS_PROFILE", "lake")];
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &profile),
        &s3.endpoint(),
        &tmp.path().join("spool"),
        &[],
    ));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(objects(&s3), 4, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "region {REGION} (from profile \"lake\" of the AWS config file)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("wJalrXUtnFEMI"), "a secret in the log");
    assert!(
        !stderr.contains(KEY),
        "the chain's own logs describe the keys"
    );

    // compact (a dry run lists the bucket) signs through the same chain.
    let (out, stdout, stderr) = output(
        lakenode_at_home(&home, &profile)
            .args(["compact", "--endpoint", &s3.endpoint(), "--bucket", "lake"])
            .args(["--path-style", "--dry-run", "--before", "2026-07-03"]),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    // The profile's keys signed for the wrong region: refused, nothing more arrives.
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &profile),
        &s3.endpoint(),
        &tmp.path().join("spool2"),
        &["--region", "us-east-1", "--start", "2026-07-02T12:00:00Z"],
    ));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("AuthorizationHeaderMalformed"), "{stderr}");
    assert_eq!(objects(&s3), 4);
}

/// A `credential_process` script that counts its calls in `calls` and prints the
/// example keys with a session token expiring `life` after each call.
fn credential_process(dir: &Path, life: Duration) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let calls = dir.join("calls");
    let script = dir.join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho call >> '{calls}'\n\
             exp=$(date -u -d '+{secs} seconds' +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"{KEY}\", \"SecretAccessKey\": \"{SECRET}\", \"SessionToken\": \"example-token\", \"Expiration\": \"%s\"}}\\n' \"$exp\"\n",
            calls = calls.display(),
            secs = life.as_secs(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, calls)
}

fn calls(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Temporary credentials from `credential_process`: cached while they are valid (one
/// call for a whole run), asked for again once they are near expiry (credentials a
/// few seconds from expiry are refreshed before each request).
#[test]
fn credential_process_credentials_are_cached_then_refreshed_near_expiry() {
    for (life, expect) in [(3600, "once"), (3, "again")] {
        let tmp = tempfile::tempdir().unwrap();
        let s3 = regional_server(&tmp.path().join("s3"));
        let (script, count) = credential_process(tmp.path(), Duration::from_secs(life));
        let home = aws_home(
            tmp.path(),
            "",
            &format!(
                "[profile proc]\ncredential_process = {}\nregion = {REGION}\n",
                script.display()
            ),
        );
        let (out, stdout, stderr) = output(&mut finite_run(
            lakenode_at_home(&home, &[("AWS_PROFILE", "proc")]),
            &s3.endpoint(),
            &tmp.path().join("spool"),
            &[],
        ));
        assert_eq!(out.status.code(), Some(0), "{life} s: {stdout}\n{stderr}");
        assert_eq!(objects(&s3), 4);
        assert!(
            stderr.contains("temporary, refreshed before they expire"),
            "{stderr}"
        );
        assert!(!stderr.contains("example-token"), "a token in the log");
        let n = calls(&count);
        match expect {
            // The first call, before anything is sampled; every upload reuses it.
            "once" => assert_eq!(n, 1, "{stderr}"),
            // The first call, then one before each of the 4 uploads at least.
            _ => assert!(n >= 5, "{n} calls: {stderr}"),
        }
    }
}

/// `AWS_REGION` is used when `--region` is absent (and beats the profile's region);
/// `--region` beats it.
#[test]
fn aws_region_is_used_without_region_and_the_flag_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = regional_server(&tmp.path().join("s3"));
    let home = aws_home(tmp.path(), "", "[default]\nregion = ap-south-1\n");
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", REGION),
    ];
    let spool = tmp.path().join("spool");
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &env),
        &s3.endpoint(),
        &spool,
        &[],
    ));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("region eu-central-1 (from AWS_REGION)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("credentials from the AWS_* environment variables"),
        "{stderr}"
    );
    assert_eq!(objects(&s3), 4);
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &env),
        &s3.endpoint(),
        &tmp.path().join("spool2"),
        &["--region", "us-west-2", "--start", "2026-07-02T12:00:00Z"],
    ));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("region us-west-2 (from --region)"),
        "{stderr}"
    );
}

/// Precedence: the environment's keys beat a profile's, and `--credentials-file` beats
/// the environment (here the losers' keys are wrong, so only the winner delivers).
#[test]
fn explicit_file_beats_environment_beats_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = regional_server(&tmp.path().join("s3"));
    let wrong = "[default]\naws_access_key_id = AKIAWRONGWRONGEXAMPL\n\
                 aws_secret_access_key = wrongwrongwrongwrongwrongwrongwrongwrong\n";
    let home = aws_home(
        tmp.path(),
        wrong,
        &format!("[default]\nregion = {REGION}\n"),
    );
    let good_env = [
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &good_env),
        &s3.endpoint(),
        &tmp.path().join("spool"),
        &[],
    ));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    let file = tmp.path().join("station.credentials");
    std::fs::write(&file, PROFILE_CREDENTIALS.replace("[lake]", "[default]")).unwrap();
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&file, perms).unwrap();
    let bad_env = [
        ("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGEXAMPL"),
        ("AWS_SECRET_ACCESS_KEY", "wrong"),
    ];
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &bad_env),
        &s3.endpoint(),
        &tmp.path().join("spool2"),
        &[
            "--credentials-file",
            file.to_str().unwrap(),
            "--start",
            "2026-07-02T12:00:00Z",
        ],
    ));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(objects(&s3), 8);
}

/// No credentials anywhere: a clear error naming where they are looked for, at once,
/// with the exit code of every other configuration error, nothing spooled.
#[test]
fn no_credentials_anywhere_is_a_quick_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let home = aws_home(tmp.path(), "", "");
    let spool = tmp.path().join("spool");
    let started = Instant::now();
    let (out, _, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &[]),
        "http://127.0.0.1:1",
        &spool,
        &[],
    ));
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for part in [
        "no AWS credentials found",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "--credentials-file",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!spool.join("0000000000000001.lks").exists());

    // A profile that does not exist is named.
    let (out, _, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &[("AWS_PROFILE", "nope")]),
        "http://127.0.0.1:1",
        &spool,
        &[],
    ));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
}

/// What a hostile `credential_process` prints to stderr before failing: values that
/// must never reach the log or an error.
const LEAKED_SECRET: &str = "LeakedSecretDoNotPrintwJalrXUtnFEMIK7MDENG";
const LEAKED_TOKEN: &str = "LeakedSessionTokenDoNotPrintIQoJb3JpZ2luX2Vj";

/// An executable `name` in `dir` with this shell body.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn assert_no_leak(what: &str, stdout: &str, stderr: &str) {
    for v in [LEAKED_SECRET, LEAKED_TOKEN] {
        assert!(
            !stdout.contains(v) && !stderr.contains(v),
            "{what}: a secret printed\n{stdout}\n{stderr}"
        );
    }
}

/// A `credential_process` that prints a secret key and token to stderr and exits 3:
/// neither reaches stdout or stderr, at the start of `run` and `compact`, nor when a
/// refresh in the middle of a run fails so.
#[test]
fn a_failing_credential_process_output_is_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let fail = format!(
        "echo \"SecretAccessKey={LEAKED_SECRET} SessionToken={LEAKED_TOKEN}\" >&2\nexit 3\n"
    );
    let failing = script(tmp.path(), "fail.sh", &fail);
    // Works once (credentials 3 s from expiry, so every upload asks again), then fails.
    let calls = tmp.path().join("calls");
    let once = script(
        tmp.path(),
        "once.sh",
        &format!(
            "if [ -e '{calls}' ]; then {fail}fi\ntouch '{calls}'\n\
             exp=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"{KEY}\", \"SecretAccessKey\": \"{SECRET}\", \"Expiration\": \"%s\"}}\\n' \"$exp\"\n",
            calls = calls.display(),
            fail = fail.replace('\n', "; "),
        ),
    );
    let home = aws_home(
        tmp.path(),
        "",
        &format!(
            "[profile fail]\ncredential_process = {}\nregion = {REGION}\n\
             [profile once]\ncredential_process = {}\nregion = {REGION}\n",
            failing.display(),
            once.display()
        ),
    );
    let s3 = regional_server(&tmp.path().join("s3"));
    let fail_env = [("AWS_PROFILE", "fail")];
    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &fail_env),
        &s3.endpoint(),
        &tmp.path().join("spool"),
        &[],
    ));
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("its output is not shown"), "{stderr}");
    assert_no_leak("run", &stdout, &stderr);

    let (out, stdout, stderr) = output(
        lakenode_at_home(&home, &fail_env)
            .args(["compact", "--endpoint", &s3.endpoint(), "--bucket", "lake"])
            .args(["--path-style", "--dry-run", "--before", "2026-07-03"]),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_no_leak("compact", &stdout, &stderr);

    let (out, stdout, stderr) = output(&mut finite_run(
        lakenode_at_home(&home, &[("AWS_PROFILE", "once")]),
        &s3.endpoint(),
        &tmp.path().join("spool2"),
        &[],
    ));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot refresh the AWS credentials"),
        "{stderr}"
    );
    assert!(
        stderr.contains("profile \"once\" of the AWS shared files (credential_process)"),
        "{stderr}"
    );
    assert_no_leak("a refresh in a run", &stdout, &stderr);
}

/// Starts `cmd`, sends SIGTERM after `after`, and returns how long it took to end
/// after the signal and its output.
fn stopped_after(cmd: &mut Command, after: Duration) -> (Duration, std::process::Output) {
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    terminate(child)
}

/// A `credential_process` that hangs: SIGTERM ends `compact` (exit 4), a finite `run`
/// (exit 4) and a real-time `run` (exit 0) at once, not after the chain's 30 s; and
/// the process, with the one it started, is gone when lakenode has exited. Before,
/// both went on running (aws-config ran it with no way to end it).
#[test]
fn a_signal_ends_the_wait_for_a_hung_credential_process() {
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    // Its pid and its child's noted, to see they are gone.
    let hang = script(
        tmp.path(),
        "hang.sh",
        &format!(
            "echo $$ >> '{0}'\nsleep 60 &\necho $! >> '{0}'\nwait\n",
            pids.display()
        ),
    );
    let home = aws_home(
        tmp.path(),
        "",
        &format!(
            "[profile hang]\ncredential_process = {}\nregion = {REGION}\n",
            hang.display()
        ),
    );
    let env = [("AWS_PROFILE", "hang")];
    let endpoint = "http://127.0.0.1:1";
    let mut compact = lakenode_at_home(&home, &env);
    compact.args([
        "compact",
        "--endpoint",
        endpoint,
        "--bucket",
        "lake",
        "--path-style",
    ]);
    let finite = finite_run(
        lakenode_at_home(&home, &env),
        endpoint,
        &tmp.path().join("s1"),
        &[],
    );
    let mut live = lakenode_at_home(&home, &env);
    live.args([
        "run",
        "--endpoint",
        endpoint,
        "--bucket",
        "lake",
        "--path-style",
    ])
    .args(["--station", STATION, "--spool"])
    .arg(tmp.path().join("s2"))
    .args(["--simulate", "7"]);
    for (what, mut cmd, code) in [
        ("compact", compact, 4),
        ("finite run", finite, 4),
        ("live run", live, 0),
    ] {
        let (took, out) = stopped_after(&mut cmd, Duration::from_secs(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
        assert!(
            took < Duration::from_secs(5),
            "{what}: {took:?} after SIGTERM"
        );
        assert!(stderr.contains("stopped by a signal"), "{what}: {stderr}");
        let listed = std::fs::read_to_string(&pids).unwrap_or_default();
        let listed: Vec<u32> = listed.lines().filter_map(|l| l.parse().ok()).collect();
        assert!(listed.len() >= 2, "{what}: the process ran ({listed:?})");
        // Killed before lakenode exited; reaped by whoever inherited them.
        let deadline = Instant::now() + Duration::from_secs(3);
        while listed.iter().any(|&p| running(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<u32> = listed.into_iter().filter(|&p| running(p)).collect();
        for &p in &left {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(i32::try_from(p).unwrap()).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        assert!(left.is_empty(), "{what}: {left:?} outlived lakenode");
        std::fs::remove_file(&pids).unwrap();
    }
}

/// Whether `pid` runs (exists and is not a zombie waiting to be reaped).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X")
    })
}
