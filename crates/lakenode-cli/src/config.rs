//! `lakenode run --config station.toml`: every flag of `run` from a file, for a
//! station run as a service.
//!
//! The file's keys are `run`'s long flags (`spool-limit` or `spool_limit`); a value is a
//! string or number, `true` for a switch. The file's settings are placed before the
//! command line's, and a flag on the command line overrides the file. Relative paths
//! are relative to the file. Secrets are refused: they belong in the environment or the
//! credentials file (mode 600), never in a config file that is copied around.
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

/// Flags whose value is a path, resolved against the config file's directory.
const PATH_FLAGS: [&str; 3] = ["spool", "csv", "credentials-file"];

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
        if text == "--config" {
            let path = iter
                .next()
                .ok_or_else(|| CliError::Usage("--config needs a file".into()))?;
            config = Some(PathBuf::from(path));
        } else if let Some(path) = text.strip_prefix("--config=") {
            config = Some(PathBuf::from(path));
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
    let mut out: Vec<OsString> = args[..=run_at].to_vec();
    for (flag, key, value) in from_file {
        if given.contains(&flag) {
            continue; // the command line overrides the file
        }
        out.push(format!("--{flag}").into());
        if let Some(v) = value {
            out.push(v);
        }
        origin.keys.push((format!("--{flag}"), key));
    }
    out.extend(rest);
    Ok((out, Some(origin)))
}

/// Index of the subcommand: the first argument that is not the global `--log`.
fn subcommand_position(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--log" {
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
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        CliError::Usage(format!("{shown}: not valid TOML: {}", e.message()))
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let bad = |why: String| CliError::Usage(format!("{shown}: key `{key}`: {why}"));
        if SECRET_WORDS.iter().any(|w| flag.contains(w)) {
            return Err(bad(
                "secrets are not read from a config file; set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY in the environment, or give a credentials-file (mode 600)"
                    .into(),
            ));
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
            (_, true) => return Err(bad("expects a string or a number".into())),
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
                "--endpoint",
                "http://127.0.0.1:9000",
                "--health",
                "--spool",
                "DIR/spool",
                "--interval",
                "5s"
            ]
        );
        assert_eq!(origin.unwrap().key_for("--spool"), Some("spool"));
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
            (
                "spool = [\"a\"]",
                "key `spool`: expects a string or a number",
            ),
            ("spool = ", "not valid TOML"),
        ] {
            let err = expand_with(toml, &[]).unwrap_err().to_string();
            assert!(err.contains(want), "{toml}: {err}");
            assert!(!err.contains("EXAMPLEKEY"), "a secret leaked: {err}");
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
