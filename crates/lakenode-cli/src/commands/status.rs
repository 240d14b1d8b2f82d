//! `lakenode status --spool DIR`: what a node's spool holds and how its run is doing,
//! for a person (or `--format json` for a script), readable while the node runs.
//!
//! Two sources, both read-only (no lock taken, nothing written, so a running node is not
//! disturbed): a scan of the spool ([`lakenode::station::survey`]: files waiting,
//! quarantined, dropped, the oldest waiting), and the status snapshot that `run` keeps
//! in the spool's `state/status.json` (the run's counters, which live in its process;
//! see [`crate::metrics`]).
//!
//! ```text
//! $ lakenode status --spool /var/lib/lakenode/spool
//! station         0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e
//! run             running (pid 812) since 2026-12-03T06:00:02Z
//! spool           2 files, 7.8 KiB waiting
//! oldest waiting  2026-12-03 15:30 UTC (station=.../data_1530.parquet)
//! last upload     2026-12-03T15:45:03Z (14 min before now)
//! ...
//! ```

use std::path::{Path, PathBuf};

use clap::Args;
use jiff::Timestamp;
use lakenode::layout::{FileName, LakeKey, rfc3339};
use lakenode::station::{Survey, survey};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::metrics::{STATUS_FILE, Snapshot};
use crate::printable::printable;
use crate::report::render::Clock;

/// `lakenode status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The station's spool directory (`run --spool`).
    #[arg(long)]
    pub spool: PathBuf,
    /// Output: an aligned table for a person, or one JSON object.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

/// Whether the run that wrote the snapshot is going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Its process is alive and had not written its last snapshot.
    Running,
    /// It ended and wrote its last snapshot.
    Ended,
    /// It did not write a last snapshot and its process is gone (killed, a power cut).
    Gone,
    /// No snapshot: no run of this version has used the spool.
    Unknown,
    /// A snapshot that cannot be read or is not one (damaged): see `warnings`.
    Unreadable,
    /// A snapshot of another station than the spool's: ignored, see `warnings`.
    Foreign,
}

/// What `status --format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The spool directory.
    pub spool: PathBuf,
    /// The station id.
    pub station: String,
    /// The state of the last run.
    pub run: RunState,
    /// Files waiting in the spool, now.
    pub spool_files: usize,
    /// Their bytes.
    pub spool_bytes: u64,
    /// Files in `quarantine/`.
    pub quarantined_files: usize,
    /// Files `dropped.log` lists.
    pub dropped_files: u64,
    /// The oldest file waiting: its object key.
    pub oldest_waiting: Option<String>,
    /// Its window's start (RFC 3339), when its key is a window's.
    pub oldest_waiting_window: Option<String>,
    /// The last sample the run recorded (RFC 3339).
    pub last_sample: Option<String>,
    /// The last upload S3 confirmed (RFC 3339).
    pub last_upload: Option<String>,
    /// Seconds since then.
    pub last_upload_age_seconds: Option<i64>,
    /// The run's snapshot (counters since it started); `None` if missing, damaged or
    /// another station's.
    pub snapshot: Option<Snapshot>,
    /// What is wrong with the snapshot, if anything.
    pub warnings: Vec<String>,
}

/// Runs `lakenode status`.
///
/// # Errors
/// [`CliError::Failed`] if the directory is not a station's spool or cannot be read.
pub fn run(args: &StatusArgs) -> CliResult<()> {
    let report = gather(&args.spool)?;
    if args.format == "json" {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Failed(format!("status as JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", table(&report, Timestamp::now().as_millisecond()));
    }
    Ok(())
}

/// Reads the spool in `dir` and its run's snapshot.
///
/// # Errors
/// As [`run`].
pub fn gather(dir: &Path) -> CliResult<Report> {
    if !dir.exists() {
        return Err(CliError::Failed(format!(
            "{}: does not exist (give a node's --spool directory)",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(CliError::Failed(format!(
            "{}: not a directory (give a node's --spool directory)",
            dir.display()
        )));
    }
    let Survey { config, spool } = survey(dir)
        .map_err(|e| CliError::Failed(format!("{e}; is this a node's --spool directory?")))?;
    let station = config.station.to_string();
    let (run, snapshot, warnings) = judge(&station, read(&dir.join("state").join(STATUS_FILE)));
    let window = spool.oldest_key.as_deref().and_then(|key| {
        let parsed = LakeKey::parse(config.prefix.as_ref(), key).ok()?;
        let FileName::Window(w) = parsed.file else {
            return None;
        };
        let at = parsed.date.at(
            i8::try_from(w.hour).ok()?,
            i8::try_from(w.minute).ok()?,
            0,
            0,
        );
        Some(format!("{}Z", at.strftime("%Y-%m-%dT%H:%M:%S")))
    });
    let now = Timestamp::now().as_millisecond();
    let last_upload = snapshot.as_ref().and_then(|s| s.last_upload_ms);
    Ok(Report {
        spool: dir.to_path_buf(),
        station,
        run,
        spool_files: spool.pending_files,
        spool_bytes: spool.pending_bytes,
        quarantined_files: spool.quarantined_files,
        dropped_files: spool.dropped_files,
        oldest_waiting: spool.oldest_key,
        oldest_waiting_window: window,
        last_sample: snapshot
            .as_ref()
            .and_then(|s| s.last_sample_ms)
            .map(rfc3339),
        last_upload: last_upload.map(rfc3339),
        last_upload_age_seconds: last_upload.map(|t| (now - t).max(0) / 1000),
        snapshot,
        warnings,
    })
}

/// Reads the snapshot file: `Ok(None)` if there is none, `Err` if it is damaged.
fn read(path: &Path) -> Result<Option<Snapshot>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot be read: {e}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: damaged, not a status snapshot: {e}", path.display()))
}

/// How the run stands, from the snapshot read for `station`'s spool: a damaged one or
/// another station's is not shown as this station's (a warning says why).
fn judge(
    station: &str,
    read: Result<Option<Snapshot>, String>,
) -> (RunState, Option<Snapshot>, Vec<String>) {
    match read {
        Err(e) => (RunState::Unreadable, None, vec![e]),
        Ok(None) => (RunState::Unknown, None, Vec::new()),
        Ok(Some(s)) if s.station != station => (
            RunState::Foreign,
            None,
            vec![format!(
                "state/status.json is station {}'s, not this spool's ({station}): its run and counters are not shown",
                s.station
            )],
        ),
        Ok(Some(s)) => {
            let run = if !s.running {
                RunState::Ended
            } else if is_lakenode(s.pid) {
                RunState::Running
            } else {
                RunState::Gone
            };
            (run, Some(s), Vec::new())
        }
    }
}

/// Whether process `pid` exists and is a lakenode (its name on Linux: a pid reused by
/// another program does not make a run that ended without a word look alive).
fn is_lakenode(pid: u32) -> bool {
    if !alive(pid) {
        return false;
    }
    // Readable for any user's process; where it is not (no /proc), the signal decides.
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(name) => name.contains("lakenode"),
        Err(_) => !cfg!(target_os = "linux") || !Path::new("/proc/self").exists(),
    }
}

/// Whether process `pid` exists (a signal 0: nothing is sent). Another user's process
/// (the service's dynamic user) answers "not permitted": it exists.
#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    pid.is_some_and(|p| {
        !matches!(
            rustix::process::test_kill_process(p),
            Err(rustix::io::Errno::SRCH)
        )
    })
}

#[cfg(not(unix))]
fn alive(_: u32) -> bool {
    true
}

/// `7.8 KiB`.
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// `14 min before now`: the report's wording (one formatter for both commands).
fn ago(now_ms: i64, t: i64) -> String {
    crate::report::render::ago(
        &Clock {
            at_ms: now_ms,
            now: true,
        },
        t,
    )
}

fn plural(n: impl Into<u64>, what: &str) -> String {
    let n = n.into();
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The report as an aligned table.
#[must_use]
pub fn table(r: &Report, now_ms: i64) -> String {
    let mut rows: Vec<(&str, String)> = vec![("station", r.station.clone())];
    let s = r.snapshot.as_ref();
    let run = match (r.run, s) {
        (RunState::Running, Some(s)) => format!(
            "running (pid {}) since {}{}",
            s.pid,
            rfc3339(s.started_ms),
            s.metrics
                .as_ref()
                .map_or_else(String::new, |m| format!("; metrics {m}"))
        ),
        (RunState::Ended, Some(s)) => format!("ended {}", ago(now_ms, s.updated_ms)),
        (RunState::Gone, Some(s)) => format!(
            "not running: pid {} is gone (or is no longer a lakenode) without a last status (killed, or a power cut); last seen {}",
            s.pid,
            ago(now_ms, s.updated_ms)
        ),
        (RunState::Unreadable, _) => {
            "unknown (state/status.json is damaged or unreadable; see the warning)".into()
        }
        (RunState::Foreign, _) => {
            "unknown (state/status.json is another station's; see the warning)".into()
        }
        _ => "unknown (no run of this lakenode version has written state/status.json)".into(),
    };
    rows.push(("run", run));
    for w in &r.warnings {
        rows.push(("warning", w.clone()));
    }
    rows.push((
        "spool",
        format!(
            "{}, {} waiting",
            plural(r.spool_files as u64, "file"),
            bytes(r.spool_bytes)
        ),
    ));
    rows.push(("quarantined", plural(r.quarantined_files as u64, "file")));
    rows.push((
        "dropped",
        format!(
            "{} (by the spool limit; dropped.log)",
            plural(r.dropped_files, "file")
        ),
    ));
    let oldest = match (&r.oldest_waiting_window, &r.oldest_waiting) {
        (Some(w), Some(key)) => format!("window of {w} ({key})"),
        (None, Some(key)) => key.clone(),
        _ => "-".into(),
    };
    rows.push(("oldest waiting", oldest));
    if let Some(t) = s.and_then(|s| s.last_sample_ms) {
        rows.push((
            "last sample",
            format!("{} ({})", rfc3339(t), ago(now_ms, t)),
        ));
    }
    let upload = s.and_then(|s| s.last_upload_ms).map_or_else(
        || "none confirmed yet".into(),
        |t| format!("{} ({})", rfc3339(t), ago(now_ms, t)),
    );
    rows.push(("last upload", upload));
    if let Some(s) = s {
        let c = &s.counters;
        rows.push((
            "since start",
            format!(
                "{}, {} sealed, {} uploaded ({})",
                plural(c.samples, "sample"),
                plural(c.windows_sealed, "window"),
                plural(c.files_uploaded, "file"),
                bytes(c.uploaded_bytes)
            ),
        ));
        rows.push((
            "",
            format!(
                "{}, {} refused, {} retried",
                plural(c.upload_failures, "upload failure"),
                c.uploads_refused,
                c.upload_retries
            ),
        ));
        rows.push((
            "",
            format!(
                "{} quarantined, {} dropped, {} skipped",
                plural(c.files_quarantined, "file"),
                c.files_dropped,
                plural(c.samples_skipped + c.samples_unsynced_dropped, "sample")
            ),
        ));
        rows.push((
            "as of",
            format!("{} ({})", rfc3339(s.updated_ms), ago(now_ms, s.updated_ms)),
        ));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:width$}  {}\n", printable(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(run: RunState) -> Report {
        Report {
            spool: PathBuf::from("spool"),
            station: "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e".into(),
            run,
            spool_files: 2,
            spool_bytes: 8_000,
            quarantined_files: 1,
            dropped_files: 0,
            oldest_waiting: Some(
                "raw/station=x/year=2026/month=12/day=03/data_1530.parquet".into(),
            ),
            oldest_waiting_window: Some("2026-12-03T15:30:00Z".into()),
            last_sample: None,
            last_upload: None,
            last_upload_age_seconds: None,
            warnings: Vec::new(),
            snapshot: Some(Snapshot {
                pid: 812,
                running: run == RunState::Running,
                started_ms: 1_796_270_400_000,
                updated_ms: 1_796_284_800_000,
                last_upload_ms: Some(1_796_283_900_000),
                ..Snapshot::default()
            }),
        }
    }

    #[test]
    fn the_table_is_aligned_and_says_how_the_run_stands() {
        let now = 1_796_284_800_000 + 60_000;
        let gone = table(&report(RunState::Gone), now);
        assert!(
            gone.contains("run             not running: pid 812 is gone"),
            "{gone}"
        );
        assert!(
            gone.contains("spool           2 files, 7.8 KiB waiting"),
            "{gone}"
        );
        assert!(gone.contains("quarantined     1 file\n"), "{gone}");
        assert!(
            gone.contains("window of 2026-12-03T15:30:00Z (raw/station=x/"),
            "{gone}"
        );
        assert!(
            gone.contains("last upload     2026-12-03T07:45:00Z (16 min before now)"),
            "{gone}"
        );
        let running = table(&report(RunState::Running), now);
        assert!(
            running.contains("running (pid 812) since 2026-12-03T04:00:00Z"),
            "{running}"
        );
        let unknown = table(
            &Report {
                snapshot: None,
                ..report(RunState::Unknown)
            },
            now,
        );
        assert!(
            unknown.contains("unknown (no run") && unknown.contains("none confirmed yet"),
            "{unknown}"
        );
        assert!(!unknown.contains("since start"), "{unknown}");
    }

    #[test]
    fn control_characters_from_the_snapshot_are_escaped() {
        let mut r = report(RunState::Running);
        if let Some(s) = r.snapshot.as_mut() {
            s.metrics = Some("http://x/\u{1b}]0;owned\u{7}\u{1b}[2J".into());
        }
        let text = table(&r, 1_796_284_800_000);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(
            text.contains(r"http://x/\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_snapshot_is_reported_as_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STATUS_FILE);
        assert_eq!(read(&path), Ok(None));
        std::fs::write(&path, b"\x00garbage{").expect("write");
        let (run, snapshot, warnings) = judge("a", read(&path));
        assert_eq!(run, RunState::Unreadable);
        assert!(snapshot.is_none());
        assert!(warnings[0].contains("damaged"), "{warnings:?}");
        let text = table(
            &Report {
                snapshot,
                warnings,
                ..report(run)
            },
            0,
        );
        assert!(
            text.contains("damaged or unreadable") && !text.contains("no run of this"),
            "{text}"
        );
        assert!(text.contains("warning"), "{text}");
    }

    #[test]
    fn another_stations_snapshot_is_not_shown_as_this_ones() {
        let theirs = Snapshot {
            station: "other".into(),
            running: false,
            ..Snapshot::default()
        };
        let (run, snapshot, warnings) = judge("mine", Ok(Some(theirs)));
        assert_eq!(run, RunState::Foreign);
        assert!(snapshot.is_none());
        assert!(
            warnings[0].contains("station other's, not this spool's (mine)"),
            "{warnings:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_live_pid_that_is_not_a_lakenode_is_not_a_running_node() {
        let mut other = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("sleep starts");
        let running = |pid| Snapshot {
            station: "mine".into(),
            running: true,
            pid,
            ..Snapshot::default()
        };
        let (run, ..) = judge("mine", Ok(Some(running(other.id()))));
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(run, RunState::Gone);
        // This test binary is `lakenode_cli-…`.
        let (run, ..) = judge("mine", Ok(Some(running(std::process::id()))));
        assert_eq!(run, RunState::Running);
    }
}
