//! Where `run` gets its credentials: the `AWS_*` environment variables, or a file in
//! AWS's shared-credentials format (`[profile]` sections with `aws_access_key_id`,
//! `aws_secret_access_key` and optionally `aws_session_token`).
//!
//! A credentials file that other users can read is refused, like ssh refuses such a key.
//! No message ever quotes a value from the file.

use std::path::Path;

use lakenode::s3::Credentials;

use crate::error::{CliError, CliResult};

/// Reads credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional
/// `AWS_SESSION_TOKEN`.
///
/// # Errors
/// [`CliError::Usage`] naming the missing variable.
pub fn from_env() -> CliResult<Credentials> {
    let (key, secret, token) = env_values()?;
    Ok(Credentials::new(key, secret, token))
}

/// The raw `AWS_*` values: key, secret and optional token (for `serve`, which hands
/// the pair to the embedded server rather than signing with it).
///
/// # Errors
/// [`CliError::Usage`] naming the missing variable.
pub fn env_values() -> CliResult<(String, String, Option<String>)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let key = var("AWS_ACCESS_KEY_ID").ok_or_else(|| {
        CliError::Usage("AWS_ACCESS_KEY_ID is not set (or give --credentials-file)".into())
    })?;
    let secret = var("AWS_SECRET_ACCESS_KEY")
        .ok_or_else(|| CliError::Usage("AWS_SECRET_ACCESS_KEY is not set".into()))?;
    Ok((key, secret, var("AWS_SESSION_TOKEN")))
}

/// Reads the `profile` section of a shared-credentials file.
///
/// # Errors
/// [`CliError::Usage`] if the file is readable by others, malformed, or lacks the
/// profile or a key; [`CliError::Io`] if it cannot be read.
pub fn from_file(path: &Path, profile: &str) -> CliResult<Credentials> {
    check_private(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
    parse(&text, profile).map_err(|msg| CliError::Usage(format!("{}: {msg}", path.display())))
}

#[cfg(unix)]
fn check_private(path: &Path) -> CliResult<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| CliError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(CliError::Usage(format!(
            "{} is accessible by other users (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> CliResult<()> {
    Ok(())
}

/// Parses the text of a shared-credentials file (public for the fuzz target).
///
/// # Errors
/// A message naming the line or key, never a value.
pub fn parse(text: &str, profile: &str) -> Result<Credentials, String> {
    let (mut key, mut secret, mut token) = (None, None, None);
    let mut in_profile = false;
    let mut found = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let name = section
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: a section header must end with ']'", i + 1))?
                .trim();
            in_profile = name == profile;
            found |= in_profile;
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected `name = value`", i + 1))?;
        if !in_profile {
            continue;
        }
        let v = v.trim().to_owned();
        match k.trim() {
            "aws_access_key_id" => key = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    if !found {
        return Err(format!("no [{profile}] section"));
    }
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("[{profile}] has no aws_access_key_id"))?;
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("[{profile}] has no aws_secret_access_key"))?;
    Ok(Credentials::new(
        key,
        secret,
        token.filter(|t| !t.is_empty()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn reads_the_named_profile_with_its_token() {
        let text = format!(
            "# comment\n[other]\naws_access_key_id = NOPE\n\n[station]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\naws_session_token = TOKEN\n"
        );
        let c = parse(&text, "station").expect("valid");
        assert_eq!(c.key(), "AKIAIOSFODNN7EXAMPLE");
        assert!(format!("{c:?}").contains("token: Some(\"<redacted>\")"));
    }

    #[test]
    fn problems_name_lines_and_keys_but_never_values() {
        let cases = [
            (
                format!("[default]\naws_access_key_id = A\n{SECRET}\n"),
                "line 3: expected `name = value`",
            ),
            ("[default\n".to_owned(), "line 1: a section header"),
            (
                format!("[default]\naws_secret_access_key = {SECRET}\n"),
                "has no aws_access_key_id",
            ),
            (
                "[default]\naws_access_key_id = A\n".to_owned(),
                "has no aws_secret_access_key",
            ),
            (
                format!("[x]\naws_secret_access_key = {SECRET}\n"),
                "no [default] section",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text, "default").expect_err(want);
            assert!(err.contains(want), "{err}");
            assert!(!err.contains(SECRET), "the secret leaked: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        std::fs::write(
            &path,
            format!("[default]\naws_access_key_id = A\naws_secret_access_key = {SECRET}\n"),
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = from_file(&path, "default").expect_err("world readable");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(from_file(&path, "default").expect("private").key(), "A");
    }
}
