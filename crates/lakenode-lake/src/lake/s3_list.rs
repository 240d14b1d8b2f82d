//! Listing a bucket: every page of a prefix, the trees below it side by side, each
//! object with its size and stamp (its `ETag`, [`super::stamp::etag_stamp`]); the months
//! whose daily files a run did not write itself, for their stamps.

use lakenode::s3::{S3Client, check_response, parse_list};
use lakenode::transport::Transport;

use super::{S3Lake, exchange_on, stamp};
use crate::error::{Error, Result};
use crate::retry::Attempts;

/// Objects (full key, size, stamp: [`stamp::etag_stamp`]) and common prefixes of a
/// listing.
pub(super) type Page = (Vec<(String, u64, u64)>, Vec<String>);

/// Every page of the listing of `full` (a full key prefix) with `delimiter`: the objects
/// (full keys) and the common prefixes.
pub(super) fn list_on(
    client: &S3Client,
    transport: &mut (dyn Transport + Send),
    attempts: &dyn Fn() -> Attempts,
    full: &str,
    delimiter: Option<&str>,
) -> Result<Page> {
    let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
    let mut token: Option<String> = None;
    let what = format!("listing {full}");
    loop {
        let (response, tries) = exchange_on(client, transport, attempts(), &what, |c, now| {
            c.list_delimited(full, delimiter, token.as_deref(), now)
        })?;
        check_response(&response).map_err(|f| tries.failed(&what, f))?;
        let page = parse_list(&response.body)?;
        let etags = page.etags.iter().map(|t| stamp::etag_stamp(t));
        objects.extend(
            page.objects
                .into_iter()
                .zip(etags)
                .map(|((k, s), t)| (k, s, t)),
        );
        prefixes.extend(page.prefixes);
        match page.next {
            Some(next) if token.as_deref() == Some(next.as_str()) => {
                return Err(Error::request(
                    what,
                    "the server repeated its continuation token; the listing would be \
                     incomplete",
                ));
            }
            Some(next) => token = Some(next),
            None => return Ok((objects, prefixes)),
        }
    }
}

impl S3Lake {
    /// Every object under `prefix` with its size and stamp ([`stamp::etag_stamp`]).
    pub(super) fn list_tagged(&mut self, prefix: &str) -> Result<Vec<(String, u64, u64)>> {
        let full = format!("{}{prefix}", self.prefix);
        let (policy, budget, sleep) = (self.policy, self.budget, self.sleep);
        let stop = self.stop.clone();
        let attempts = || Attempts::new(policy, budget, sleep).with_stop(stop.clone());
        let (mut out, trees) = list_on(
            &self.client,
            self.transport.as_mut(),
            &attempts,
            &full,
            Some("/"),
        )?;
        // A tree that is not a partition (`health/`, `rollup/` of a whole lake's
        // listing) is split once more, into its stations.
        let (split, mut trees): (Vec<String>, Vec<String>) = trees
            .into_iter()
            .partition(|t| !t[full.len()..].contains('='));
        let mut failed = None;
        self.pooled(
            split.len(),
            &mut |_, listed: Result<_>| match listed {
                Ok((objects, more)) => {
                    out.extend(objects);
                    trees.extend(more);
                }
                Err(e) => failed = failed.take().or(Some(e)),
            },
            |i, client, transport, attempts| {
                list_on(client, transport, attempts, &split[i], Some("/"))
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        let out = self.list_each(&trees, out)?;
        let out = self.relative_sorted(out);
        self.written.listed(prefix, &out);
        Ok(out)
    }

    /// Every object of each of `months` (keys relative to the lake, ending in `/`), with
    /// its size and stamp, sorted by key: one listing each, several at once; `None` if
    /// one failed.
    pub(super) fn list_months(&mut self, months: &[&str]) -> Option<Vec<(String, u64, u64)>> {
        let full: Vec<String> = months
            .iter()
            .map(|m| format!("{}{m}", self.prefix))
            .collect();
        // The months come back in any order: sorted.
        let listed = self.list_each(&full, Vec::new()).ok()?;
        Some(self.relative_sorted(listed))
    }

    /// `out` with every object under each of the full `prefixes` (one listing each,
    /// several at once); the first error if one failed.
    fn list_each(
        &mut self,
        prefixes: &[String],
        mut out: Vec<(String, u64, u64)>,
    ) -> Result<Vec<(String, u64, u64)>> {
        let mut failed = None;
        self.pooled(
            prefixes.len(),
            &mut |_, listed: Result<Page>| match listed {
                Ok((objects, _)) => out.extend(objects),
                Err(e) => failed = failed.take().or(Some(e)),
            },
            |i, client, transport, attempts| {
                list_on(client, transport, attempts, &prefixes[i], None)
            },
        );
        failed.map_or(Ok(out), Err)
    }

    /// Full keys made relative to the lake (those outside its prefix left out), sorted.
    fn relative_sorted(&self, objects: Vec<(String, u64, u64)>) -> Vec<(String, u64, u64)> {
        let mine = self.prefix.len();
        let mut out: Vec<(String, u64, u64)> = objects
            .into_iter()
            .filter_map(|(key, size, tag)| {
                key.starts_with(&self.prefix)
                    .then(|| (key[mine..].to_owned(), size, tag))
            })
            .collect();
        out.sort_unstable();
        out
    }
}
