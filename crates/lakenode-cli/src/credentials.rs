//! `--credentials-file`: a file in AWS's shared-credentials format (`[profile]`
//! sections with `aws_access_key_id`, `aws_secret_access_key` and optionally
//! `aws_session_token`), read with permission checks, ahead of the AWS chain
//! ([`crate::aws`]); and the `AWS_*` keys `serve` gives its embedded server.
//!
//! A credentials file must be a regular file owned by the user running lakenode, with
//! no access for group or others (mode 600 or 400), as ssh insists for a key: anything
//! else is refused with the command that fixes it. A FIFO or device is refused without
//! being read (it would block forever). No message ever quotes a value from the file.

use std::path::Path;

use lakenode::s3::Credentials;

use crate::error::{CliError, CliResult};

/// The raw `AWS_*` values: key, secret and optional token (for `serve`, which hands
/// the pair to the embedded server rather than signing with it).
///
/// # Errors
/// [`CliError::Usage`] naming the missing variable.
pub fn env_values() -> CliResult<(String, String, Option<String>)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let key = var("AWS_ACCESS_KEY_ID").ok_or_else(|| {
        CliError::Usage(
            "AWS_ACCESS_KEY_ID is not set: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                .into(),
        )
    })?;
    let secret = var("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
        CliError::Usage("AWS_SECRET_ACCESS_KEY is not set: export it with AWS_ACCESS_KEY_ID".into())
    })?;
    Ok((key, secret, var("AWS_SESSION_TOKEN")))
}

/// Reads the `profile` section of a shared-credentials file.
///
/// # Errors
/// [`CliError::Usage`] if the file is readable by others, malformed, or lacks the
/// profile or a key; [`CliError::Io`] if it cannot be read.
pub fn from_file(path: &Path, profile: &str) -> CliResult<Credentials> {
    let mut file = open_private(path)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(|e| CliError::io(path, e))?;
    parse(&text, profile).map_err(|msg| CliError::Usage(format!("{}: {msg}", path.display())))
}

/// Opens `path` if it is a private regular file of the running user (see the module
/// docs). Checked before opening, so a FIFO or device is never opened, and again on
/// the opened file (opened non-blocking), so a swap in between cannot make it hang.
#[cfg(unix)]
fn open_private(path: &Path) -> CliResult<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    check_private(
        path,
        &std::fs::metadata(path).map_err(|e| CliError::io(path, e))?,
    )?;
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| CliError::io(path, e.into()))?;
    let file = std::fs::File::from(fd);
    check_private(path, &file.metadata().map_err(|e| CliError::io(path, e))?)?;
    Ok(file)
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> CliResult<()> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    if !meta.file_type().is_file() {
        return Err(CliError::Usage(format!(
            "{shown} is not a regular file (a directory, FIFO or device); a credentials \
             file must be a plain file"
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if from_systemd(path) {
        // systemd's LoadCredential=: a read-only file it made readable by this service
        // (root-owned with an ACL, or ours); only "other" access would be wrong.
        if meta.mode() & 0o007 != 0 {
            return Err(CliError::Usage(format!(
                "{shown} is readable by other users"
            )));
        }
        return Ok(());
    }
    if meta.uid() != me {
        return Err(CliError::Usage(format!(
            "{shown} is owned by uid {}, not by the user running lakenode (uid {me}); \
             run: chown {me} {shown}",
            meta.uid()
        )));
    }
    let mode = meta.mode();
    if mode & 0o077 != 0 {
        return Err(CliError::Usage(format!(
            "{shown} is accessible by other users (mode {:o}); run: chmod 600 {shown}",
            mode & 0o777,
        )));
    }
    Ok(())
}

/// Whether `path` is in the directory systemd hands a service its credentials in.
#[cfg(unix)]
fn from_systemd(path: &Path) -> bool {
    let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
        return false;
    };
    match (Path::new(&dir).canonicalize(), path.canonicalize()) {
        (Ok(dir), Ok(file)) => file.starts_with(dir),
        _ => false,
    }
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> CliResult<std::fs::File> {
    std::fs::File::open(path).map_err(|e| CliError::io(path, e))
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

    /// A valid credentials file with `mode`, in a temporary directory kept alive by
    /// the returned handle.
    #[cfg(unix)]
    fn credentials_file(mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        std::fs::write(
            &path,
            format!("[default]\naws_access_key_id = A\naws_secret_access_key = {SECRET}\n"),
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        (dir, path)
    }

    #[cfg(unix)]
    #[test]
    fn a_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_dir, path) = credentials_file(0o644);
        let err = from_file(&path, "default").expect_err("world readable");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(from_file(&path, "default").expect("private").key(), "A");
    }

    /// Issue 11, item 5: a FIFO hung forever; a directory and a device are refused too.
    #[cfg(unix)]
    #[test]
    fn a_fifo_device_or_directory_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo")
                .success()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = [fifo, dir.path().to_path_buf(), "/dev/zero".into()];
        std::thread::spawn(move || {
            for p in paths {
                let _ = tx.send((p.clone(), from_file(&p, "default").map(|_| ())));
            }
        });
        for _ in 0..3 {
            let (path, result) = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("from_file blocked");
            let err = result.expect_err("accepted");
            assert!(
                err.to_string().contains("not a regular file"),
                "{}: {err}",
                path.display()
            );
        }
    }

    /// Issue 11, item 5: a mode-600 file owned by another user was accepted when run as
    /// root. Needs root to give the file away; elsewhere the check is the same code.
    #[cfg(unix)]
    #[test]
    fn a_file_owned_by_another_user_is_refused() {
        let (_dir, path) = credentials_file(0o600);
        if std::os::unix::fs::chown(&path, Some(65_534), None).is_err() {
            eprintln!("not root: cannot give the file to another user; owner check not exercised");
            return;
        }
        let err = from_file(&path, "default").expect_err("another user's file");
        assert!(err.to_string().contains("is owned by uid 65534"), "{err}");
        assert!(!err.to_string().contains(SECRET));
    }
}
