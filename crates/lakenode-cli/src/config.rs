//! `lakenode run --config station.toml`: every flag of `run` from a file, for a
//! station run as a service.
//!
//! The file's keys are `run`'s long flags (`spool-limit` or `spool_limit`); a value is a
//! string or number, `true` for a switch. The file's settings are placed before the
//! command line's, and a flag on the command line overrides the file. Relative paths
//! (`spool`, `csv`, `credentials-file`, `ca-file`) are relative to the file. Secrets
//! are refused: they belong in the environment, the AWS chain's files or the credentials
//! file (mode 600), never in a config file that is copied around.
//!
//! ```toml
//! endpoint = "https://s3.eu-central-1.amazonaws.com"
//! region = "eu-central-1"
//! bucket = "my-lake"
//! station = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e"
//! bme280 = "/dev/i2c-1:0x76"
//! pms5003 = "/dev/ttyAMA0"
//! interval = "5s"
//! health = true
//! ```
//!
//! Why by hand around clap: clap reads flags, not files, and the maintained layering
//! crates (figment, config) would duplicate `run`'s forty flags as a second struct that
//! can drift; expanding the file into flags keeps clap's one definition and its
//! validation, and errors are then mapped back to the key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// Where the settings of a parse came from, to name a key in an error.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The config file.
    pub path: PathBuf,
    /// (flag, key as written) for each setting taken from the file and not overridden.
    pub keys: Vec<(String, String)>,
}

impl Origin {
    /// The key of the file behind `flag` (`--interval`), if the file set it.
    #[must_use]
    pub fn key_for(&self, flag: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(f, _)| f == flag)
            .map(|(_, k)| k.as_str())
    }

    /// The key of the file behind a setting the core names in an
    /// [`lakenode::Error::Config`] (`spool_limit`, `interval`), if the file set it: the
    /// key as the user wrote it (`spool-limit` or `spool_limit`).
    #[must_use]
    pub fn key_for_field(&self, field: &str) -> Option<&str> {
        self.key_for(&format!("--{}", field.replace('_', "-")))
    }
}

/// Key fragments that name a secret.
const SECRET_WORDS: [&str; 6] = [
    "secret",
    "password",
    "passphrase",
    "token",
    "access-key",
    "psk",
];

/// Where samples come from (the first five), and the simulation's time span: a source on
/// the command line replaces all of these from the file.
const SOURCE_FLAGS: [&str; 7] = [
    "simulate", "csv", "bme280", "scd4x", "pms5003", "start", "duration",
];

/// Largest config file read (a station's is well under 1 KiB).
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// The global flags a config file may set (`log = "debug"`, `log-format = "json"`).
const GLOBAL_FLAGS: [&str; 2] = ["log", "log-format"];

/// Flags whose value is a path, resolved against the config file's directory.
const PATH_FLAGS: [&str; 4] = ["spool", "csv", "credentials-file", "ca-file"];

/// Expands `run --config FILE` into the file's settings as flags, placed before the
/// command line's own. Other commands' arguments pass through unchanged.
///
/// `run_flags` are `run`'s long flags with whether each takes a value
/// (`(name, takes_value)`).
///
/// # Errors
/// [`CliError::Usage`] naming the file and key: unreadable or malformed TOML, an unknown
/// key, a secret, or a value of the wrong kind.
pub fn expand(
    args: Vec<OsString>,
    run_flags: &[(String, bool)],
) -> Result<(Vec<OsString>, Option<Origin>), CliError> {
    let Some(run_at) = subcommand_position(&args).filter(|&i| args[i] == "run") else {
        return Ok((args, None));
    };
    let mut rest: Vec<OsString> = Vec::new();
    let mut config: Option<PathBuf> = None;
    let mut iter = args[run_at + 1..].iter();
    while let Some(a) = iter.next() {
        let text = a.to_string_lossy();
        let given = if text == "--config" {
            Some(PathBuf::from(iter.next().ok_or_else(|| {
                CliError::Usage("--config needs a file".into())
            })?))
        } else {
            text.strip_prefix("--config=").map(PathBuf::from)
        };
        if let Some(path) = given {
            if config.is_some() {
                return Err(CliError::Usage(
                    "--config is given twice; files are not merged: give one".into(),
                ));
            }
            config = Some(path);
        } else {
            rest.push(a.clone());
        }
    }
    let Some(path) = config else {
        return Ok((args, None));
    };
    let from_file = settings(&path, run_flags)?;
    let given: Vec<String> = rest
        .iter()
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap_or(a).to_owned())
        .collect();
    let mut origin = Origin {
        path: path.clone(),
        keys: Vec::new(),
    };
    // A data source on the command line replaces the file's whole source (and the
    // simulation's --start/--duration with it).
    let cli_source = SOURCE_FLAGS[..5]
        .iter()
        .any(|f| given.iter().any(|g| g == f));
    let mut out: Vec<OsString> = args[..=run_at].to_vec();
    for (flag, key, value) in from_file {
        if GLOBAL_FLAGS.contains(&flag.as_str()) {
            // A global flag: before `run`, unless the command line gave one.
            let globals = &args[..run_at];
            let long = format!("--{flag}");
            if !globals
                .iter()
                .any(|a| a == long.as_str() || a.to_string_lossy().starts_with(&format!("{long}=")))
                && let Some(v) = value
            {
                let mut arg = OsString::from(format!("{long}="));
                arg.push(v);
                out.insert(run_at, arg);
                origin.keys.push((long, key));
            }
            continue;
        }
        if given.contains(&flag) || (cli_source && SOURCE_FLAGS.contains(&flag.as_str())) {
            continue; // the command line overrides the file
        }
        // `--flag=value`: a value starting with '-' stays a value.
        match value {
            Some(v) => {
                let mut arg = OsString::from(format!("--{flag}="));
                arg.push(v);
                out.push(arg);
            }
            None => out.push(format!("--{flag}").into()),
        }
        origin.keys.push((format!("--{flag}"), key));
    }
    out.extend(rest);
    Ok((out, Some(origin)))
}

/// Index of the subcommand: the first argument that is not a global flag.
fn subcommand_position(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if GLOBAL_FLAGS.iter().any(|g| a.strip_prefix("--") == Some(g)) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// (flag, key, value) of each setting of the file, validated.
fn settings(
    path: &Path,
    run_flags: &[(String, bool)],
) -> Result<Vec<(String, String, Option<OsString>)>, CliError> {
    let shown = path.display();
    // Checked before it is opened: a FIFO would block, a device never end.
    let meta = std::fs::metadata(path).map_err(|e| CliError::io(path, e))?;
    if !meta.is_file() {
        return Err(CliError::Usage(format!(
            "{shown}: not a regular file (a directory, FIFO or device)"
        )));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(CliError::Usage(format!(
            "{shown}: {} bytes is too large for a config file (at most {MAX_CONFIG_BYTES})",
            meta.len()
        )));
    }
    let mut text = String::new();
    // One byte more than allowed: a file that grew since the size check is refused,
    // never cut.
    std::io::Read::read_to_string(
        &mut std::io::Read::take(
            std::fs::File::open(path).map_err(|e| CliError::io(path, e))?,
            MAX_CONFIG_BYTES + 1,
        ),
        &mut text,
    )
    .map_err(|e| CliError::io(path, e))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(CliError::Usage(format!(
            "{shown}: longer than {MAX_CONFIG_BYTES} bytes (it grew while being read); a config file must be at most that"
        )));
    }
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        CliError::Usage(format!("{shown}: not valid TOML: {}", e.message()))
    })?;
    // Relative paths are the file's own: through a symlink, the directory of the file
    // it points to, not of the link.
    let real = std::fs::canonicalize(path).map_err(|e| CliError::io(path, e))?;
    let dir = real.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let bad = |why: String| CliError::Usage(format!("{shown}: key `{key}`: {why}"));
        if seen.contains(&flag) {
            return Err(bad("given twice (as `a_b` and `a-b`)".into()));
        }
        seen.push(flag.clone());
        if SECRET_WORDS.iter().any(|w| flag.contains(w)) {
            return Err(bad(
                "secrets are not read from a config file; set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY in the environment, or AWS_PROFILE, or give a \
                 credentials-file (mode 600)"
                    .into(),
            ));
        }
        if GLOBAL_FLAGS.contains(&flag.as_str()) {
            // The global `--log`, `--log-format` (placed before `run` by `expand`).
            let toml::Value::String(level) = value else {
                return Err(bad(if flag == "log" {
                    "expects a string like \"info\" or \"lakenode=debug\"".into()
                } else {
                    "expects \"text\" or \"json\"".into()
                }));
            };
            out.push((flag, key, Some(level.into())));
            continue;
        }
        let Some((_, takes_value)) = run_flags.iter().find(|(f, _)| *f == flag && f != "config")
        else {
            let mut known: Vec<&str> = run_flags
                .iter()
                .map(|(f, _)| f.as_str())
                .filter(|f| *f != "config" && *f != "help")
                .collect();
            known.sort_unstable();
            return Err(bad(format!(
                "not a setting of `run`; known keys: {}",
                known.join(", ")
            )));
        };
        let value = match (value, takes_value) {
            (toml::Value::Boolean(true), false) => None,
            (toml::Value::Boolean(false), false) => continue,
            (toml::Value::Boolean(_), true) => {
                return Err(bad("expects a value, not true or false".into()));
            }
            (_, false) => return Err(bad("is a switch: write true or false".into())),
            (toml::Value::String(s), true) if PATH_FLAGS.contains(&flag.as_str()) => {
                Some(dir.join(s).into_os_string())
            }
            (toml::Value::String(s), true) => Some(s.into()),
            (toml::Value::Integer(i), true) => Some(i.to_string().into()),
            (toml::Value::Float(f), true) => Some(f.to_string().into()),
            (toml::Value::Datetime(d), true) => Some(d.to_string().into()),
            (toml::Value::Array(items), true) => {
                // A list (`columns = ["temperature", "co2"]`) as the flag's comma list.
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                Some(
                    parts
                        .ok_or_else(|| bad("a list must hold strings".into()))?
                        .join(",")
                        .into(),
                )
            }
            (_, true) => return Err(bad("expects a string, a number or a list".into())),
        };
        out.push((flag, key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Vec<(String, bool)> {
        [
            ("endpoint", true),
            ("spool", true),
            ("health", false),
            ("interval", true),
            ("spool-limit", true),
            ("config", true),
        ]
        .iter()
        .map(|(f, v)| ((*f).to_owned(), *v))
        .collect()
    }

    fn expand_with(toml: &str, cli: &[&str]) -> Result<(Vec<String>, Option<Origin>), CliError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.toml");
        std::fs::write(&path, toml).unwrap();
        let mut args: Vec<OsString> = vec![
            "lakenode".into(),
            "run".into(),
            "--config".into(),
            path.clone().into(),
        ];
        args.extend(cli.iter().map(OsString::from));
        expand(args, &flags()).map(|(a, o)| {
            let text = a
                .iter()
                .map(|s| {
                    s.to_string_lossy()
                        .replace(&*dir.path().to_string_lossy(), "DIR")
                })
                .collect();
            (text, o)
        })
    }

    #[test]
    fn log_is_a_setting_placed_before_run_unless_the_command_line_has_one() {
        let (args, origin) = expand_with("log = \"debug\"\nhealth = true\n", &[]).unwrap();
        assert_eq!(args, ["lakenode", "--log=debug", "run", "--health"]);
        assert!(
            origin
                .unwrap()
                .keys
                .iter()
                .any(|(f, k)| f == "--log" && k == "log")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.toml");
        std::fs::write(&path, "log = \"debug\"\n").unwrap();
        let args: Vec<OsString> = vec![
            "lakenode".into(),
            "--log".into(),
            "warn".into(),
            "run".into(),
            "--config".into(),
            path.into(),
        ];
        let (out, _) = expand(args, &flags()).unwrap();
        assert_eq!(out, ["lakenode", "--log", "warn", "run"]);
        assert!(expand_with("log = 3\n", &[]).is_err());
    }

    #[test]
    fn log_format_is_a_global_setting_too() {
        let (args, origin) = expand_with("log_format = \"json\"\nhealth = true\n", &[]).unwrap();
        assert_eq!(args, ["lakenode", "--log-format=json", "run", "--health"]);
        assert_eq!(origin.unwrap().key_for("--log-format"), Some("log_format"));
        let e = expand_with("log-format = 1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"text\" or \"json\""), "{e}");
        let args: Vec<OsString> = ["lakenode", "--log-format", "text", "run"]
            .into_iter()
            .map(OsString::from)
            .collect();
        assert_eq!(subcommand_position(&args), Some(3));
    }

    #[cfg(unix)]
    #[test]
    fn relative_paths_of_a_symlinked_config_are_the_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("etc");
        let link_dir = dir.path().join("elsewhere");
        std::fs::create_dir_all(&real_dir).unwrap();
        std::fs::create_dir_all(&link_dir).unwrap();
        let real = real_dir.join("station.toml");
        std::fs::write(&real, "spool = \"spool\"\n").unwrap();
        let link = link_dir.join("station.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let args: Vec<OsString> = vec![
            "lakenode".into(),
            "run".into(),
            "--config".into(),
            link.into(),
        ];
        let (out, _) = expand(args, &flags()).unwrap();
        let spool = real_dir.canonicalize().unwrap().join("spool");
        let expected = format!("--spool={}", spool.display());
        assert_eq!(out[2].to_string_lossy(), expected);
    }

    #[test]
    fn a_ca_file_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("station.toml");
        std::fs::write(&path, "ca-file = \"lake-ca.pem\"\n").unwrap();
        let args: Vec<OsString> = vec![
            "lakenode".into(),
            "run".into(),
            "--config".into(),
            path.into(),
        ];
        let (out, _) = expand(args, &[("ca-file".to_owned(), true)]).unwrap();
        let ca = dir.path().canonicalize().unwrap().join("lake-ca.pem");
        assert_eq!(
            out[2].to_string_lossy(),
            format!("--ca-file={}", ca.display())
        );
    }

    #[test]
    fn file_settings_become_flags_before_the_command_lines_which_override_them() {
        let (args, origin) = expand_with(
            "endpoint = \"http://127.0.0.1:9000\"\nspool = \"spool\"\nhealth = true\ninterval = 10\n",
            &["--interval", "5s"],
        )
        .unwrap();
        assert_eq!(
            args,
            [
                "lakenode",
                "run",
                "--endpoint=http://127.0.0.1:9000",
                "--health",
                "--spool=DIR/spool",
                "--interval",
                "5s"
            ]
        );
        assert_eq!(origin.unwrap().key_for("--spool"), Some("spool"));
    }

    #[test]
    fn a_core_setting_names_the_key_as_written() {
        for written in ["spool_limit", "spool-limit"] {
            let toml = format!("{written} = \"1K\"\ninterval = \"1.5s\"\n");
            let (_, origin) = expand_with(&toml, &[]).unwrap();
            let origin = origin.unwrap();
            // The core's field names: `Spool::set_limit`, `WindowSpec::new`.
            assert_eq!(origin.key_for_field("spool_limit"), Some(written));
            assert_eq!(origin.key_for_field("interval"), Some("interval"));
            assert_eq!(origin.key_for_field("window"), None, "not from the file");
        }
    }

    #[test]
    fn unknown_keys_secrets_and_wrong_kinds_name_the_key() {
        for (toml, want) in [
            (
                "endpont = \"x\"",
                "key `endpont`: not a setting of `run`; known keys: endpoint, health, interval, spool",
            ),
            (
                "aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
                "key `aws_secret_access_key`: secrets are not read",
            ),
            ("health = \"yes\"", "key `health`: is a switch"),
            ("spool = true", "key `spool`: expects a value"),
            ("spool = [1]", "key `spool`: a list must hold strings"),
            (
                "spool = { a = 1 }",
                "key `spool`: expects a string, a number or a list",
            ),
            (
                "spool = \"a\"\nhealth = true\n\"health\" = false",
                "not valid TOML",
            ),
            (
                "interval = 1\nspool = \"-x\"\ninterval_x = 2",
                "not a setting",
            ),
            ("spool = ", "not valid TOML"),
        ] {
            let err = expand_with(toml, &[]).unwrap_err().to_string();
            assert!(err.contains(want), "{toml}: {err}");
            assert!(!err.contains("EXAMPLEKEY"), "a secret leaked: {err}");
        }
    }

    #[test]
    fn values_starting_with_a_dash_stay_values_and_the_files_source_gives_way() {
        let (args, _) = expand_with("spool = \"-raw\"\ninterval = -1\n", &[]).unwrap();
        assert_eq!(
            args,
            ["lakenode", "run", "--interval=-1", "--spool=DIR/-raw"]
        );
        let flags: Vec<(String, bool)> = ["simulate", "duration", "pms5003", "spool"]
            .iter()
            .map(|f| ((*f).to_owned(), true))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "simulate = 1\nduration = \"1h\"\nspool = \"s\"\n").unwrap();
        let args: Vec<OsString> = [
            "lakenode",
            "run",
            "--config",
            path.to_str().unwrap(),
            "--pms5003",
            "/dev/ttyS0",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let (out, _) = expand(args, &flags).unwrap();
        let out: Vec<String> = out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            !out.iter()
                .any(|a| a.starts_with("--simulate") || a.starts_with("--duration")),
            "{out:?}"
        );
        assert!(out.contains(&"--pms5003".to_owned()));
    }

    #[test]
    fn a_fifo_a_directory_a_huge_file_or_two_configs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let huge = dir.path().join("huge.toml");
        std::fs::write(&huge, "#".repeat(100_000)).unwrap();
        let small = dir.path().join("a.toml");
        std::fs::write(&small, "").unwrap();
        for (args, want) in [
            (
                vec!["--config", fifo.to_str().unwrap()],
                "not a regular file",
            ),
            (
                vec!["--config", dir.path().to_str().unwrap()],
                "not a regular file",
            ),
            (vec!["--config", huge.to_str().unwrap()], "too large"),
            (
                vec![
                    "--config",
                    small.to_str().unwrap(),
                    "--config",
                    small.to_str().unwrap(),
                ],
                "given twice",
            ),
        ] {
            let mut all: Vec<OsString> = vec!["lakenode".into(), "run".into()];
            all.extend(args.iter().map(OsString::from));
            let err = expand(all, &flags()).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn other_commands_pass_through() {
        let args: Vec<OsString> = ["lakenode", "--log", "debug", "demo", "--config", "x"]
            .iter()
            .map(OsString::from)
            .collect();
        let (out, origin) = expand(args.clone(), &flags()).unwrap();
        assert_eq!(out, args);
        assert!(origin.is_none());
    }
}
