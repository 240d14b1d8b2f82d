//! What a spool's journal was recorded with (`station.state`): its samples are raw
//! readings, so they must be sealed with the station, columns, interval and profile they
//! were taken under, never relabelled by a run with other arguments.

use std::path::Path;
use std::sync::Arc;

use crate::encode::WriterProfile;
use crate::layout::{Prefix, StationId};
use crate::recorder::{Recorder, RecorderConfig};
use crate::schema::Schema;
use crate::storage::Storage;
use crate::window::WindowSpec;
use crate::{Error, Result};

/// The file, in the station's directory.
pub(super) const FILE: &str = "station.state";

fn describe(c: &RecorderConfig) -> String {
    let columns: Vec<&str> = c.schema.columns().iter().map(|m| m.name()).collect();
    format!(
        "station={} prefix={} columns={} interval_ms={} window_ms={} profile={}",
        c.station,
        c.prefix.as_ref().map_or("-", Prefix::as_str),
        columns.join(","),
        c.spec.interval_ms(),
        c.spec.window_ms(),
        c.profile.name()
    )
}

fn parse(text: &str) -> Option<RecorderConfig> {
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let ms = |name: &str| field(name)?.parse::<i64>().ok();
    Some(RecorderConfig {
        station: StationId::new(field("station")?).ok()?,
        prefix: match field("prefix")? {
            "-" => None,
            p => Some(Prefix::new(p).ok()?),
        },
        schema: Schema::parse_list(field("columns")?).ok()?,
        spec: WindowSpec::new(ms("interval_ms")?, ms("window_ms")?).ok()?,
        profile: WriterProfile::parse(field("profile")?).ok()?,
    })
}

/// The configuration the spool in `dir` records with, if it names one.
pub(super) fn read(storage: &dyn Storage, dir: &Path) -> Option<RecorderConfig> {
    let text = storage.read(&dir.join(FILE)).ok()?;
    parse(String::from_utf8_lossy(&text).trim())
}

/// The prefixes this spool has written to, each with its writer profile, one
/// `prefix=P profile=NAME` line each (`prefix=-`: the bucket's root).
pub(super) const PREFIXES: &str = "prefixes.state";

/// `prefixes.state`'s lines as (prefix, profile) names.
fn read_prefixes(storage: &dyn Storage, dir: &Path) -> Vec<(String, String)> {
    let text = storage
        .read(&dir.join(PREFIXES))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            };
            Some((field("prefix")?.to_owned(), field("profile")?.to_owned()))
        })
        .collect()
}

/// Every prefix this spool has written to, `current` first (`None`: the bucket's
/// root). Files sealed under an earlier prefix wait in the spool with their key under
/// it; they are delivered there, never relabelled nor set aside.
pub(super) fn recorded_prefixes(
    storage: &dyn Storage,
    dir: &Path,
    current: Option<&Prefix>,
) -> Vec<Option<Prefix>> {
    let mut all = vec![current.cloned()];
    for (name, _) in read_prefixes(storage, dir) {
        let prefix = match name.as_str() {
            "-" => None,
            p => match Prefix::new(p) {
                Ok(p) => Some(p),
                Err(_) => continue,
            },
        };
        if !all.contains(&prefix) {
            all.push(prefix);
        }
    }
    all
}

fn prefix_name(c: &RecorderConfig) -> &str {
    c.prefix.as_ref().map_or("-", Prefix::as_str)
}

/// One prefix holds one writer profile (docs/lake.md, "One profile per prefix"): the
/// columns of `compat` and `compact` files have other Parquet types, and readers given
/// one schema for the lake fail on the other. The node cannot list its bucket (its IAM
/// policy allows only PutObject), but its spool remembers every prefix it wrote to and
/// with which profile (remembering only the last one let a detour through another
/// prefix mix both in the first): a run that would switch profile within a prefix is
/// refused before anything changes, naming both ways out. `old` is the configuration
/// the spool recorded with before, if any (a spool from before this record seeds it).
fn refuse_mixed_profiles(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    old: Option<&RecorderConfig>,
    wanted: &RecorderConfig,
) -> Result<()> {
    let path = dir.join(PREFIXES);
    let mut known = read_prefixes(&**storage, dir);
    let before = known.len();
    for c in old.into_iter().chain([wanted]) {
        let (prefix, profile) = (prefix_name(c), c.profile.name());
        if let Some((_, wrote)) = known.iter().find(|(p, _)| p == prefix) {
            if wrote != profile {
                let place = if prefix == "-" {
                    "the bucket's root".to_owned()
                } else {
                    format!("prefix `{prefix}`")
                };
                return Err(Error::config(
                    "profile",
                    format!(
                        "this spool wrote `{wrote}` files to {place}; `{profile}` files there would \
                         mix both profiles in one prefix, which readers of the lake refuse (their \
                         columns have other types). Keep profile `{wrote}`, or write `{profile}` \
                         files under another prefix (docs/lake.md)"
                    ),
                ));
            }
        } else {
            known.push((prefix.to_owned(), profile.to_owned()));
        }
    }
    if known.len() == before {
        return Ok(());
    }
    let lines: String = known
        .iter()
        .map(|(p, f)| format!("prefix={p} profile={f}\n"))
        .collect();
    storage
        .replace(&path, lines.as_bytes())
        .map_err(|e| Error::spool("replace", &path, e))
}

/// Records `wanted` as the spool's configuration. If the spool was recording with
/// another one, first seals its journal under that one (each window sealed so owes a
/// health row if `health`, made by the station opened next); returns its description.
pub(super) fn switch(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    wanted: &RecorderConfig,
    health: bool,
) -> Result<Option<String>> {
    let path = dir.join(FILE);
    let now = describe(wanted);
    let earlier = storage
        .read(&path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let changed = match earlier.as_deref().map(str::trim) {
        Some(text) if text == now => return Ok(None),
        Some(text) => parse(text).map(|old| (text.to_owned(), old)),
        None => None,
    };
    refuse_mixed_profiles(storage, dir, changed.as_ref().map(|(_, old)| old), wanted)?;
    if let Some((_, old)) = &changed {
        let mut recorder = Recorder::open_owing(old.clone(), storage.clone(), dir, health)?;
        recorder.flush()?;
    }
    // Atomic: a power cut mid-write must not leave a state that names no configuration
    // (the next open would take the spool for a fresh one and relabel its journal).
    storage
        .replace(&path, format!("{now}\n").as_bytes())
        .map_err(|e| Error::spool("replace", &path, e))?;
    Ok(changed.map(|(text, _)| text))
}
