//! A lake store with hooks around another's calls (feature `hooks`): the one
//! delegating wrapper of the tests (a rival compaction before the first conditional
//! write, a key that cannot be deleted, a day compacted while it is read, counted or
//! refused reads) and of the CLI's debug-build test hooks (abort after the Nth change,
//! pause before the first). A test writes only its hooks; [`Hooked`] passes everything
//! else on.
//!
//! What goes to the inner store whole is the hooks' choice ([`Passes`]): locks, batches
//! and conditional writes are passed on, or left to [`LakeStore`]'s defaults, which take
//! no lock and make single calls of a batch, each through the hooks. A hooked store is
//! always worked through one handle ([`LakeStore::worker`] is `None`), so no change
//! bypasses the hooks.

use super::{LakeStore, PutIf};
use crate::error::Result;

/// Which of the inner store's own calls a [`Hooked`] store uses; each `false` leaves
/// the call to [`LakeStore`]'s default (see the module docs). All `false` by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one switch per group of calls
pub struct Passes {
    /// `get_tagged` and `put_if` (the store's own tags: S3's `ETag`).
    pub conditional: bool,
    /// `put_many_if` in one batch.
    pub put_batches: bool,
    /// `delete_many` in one batch.
    pub delete_batches: bool,
    /// `lock`, `keep_lock` and `unlock`.
    pub locks: bool,
    /// `get_tail` and `get_tails` (ranged reads, the store's pool of readers).
    pub tails: bool,
    /// `anomalies` and `remove_dead_temporaries`.
    pub anomalies: bool,
}

impl Passes {
    /// Every group passed on.
    pub const ALL: Self = Self {
        conditional: true,
        put_batches: true,
        delete_batches: true,
        locks: true,
        tails: true,
        anomalies: true,
    };
}

/// A change to the lake, as the hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// `put`.
    Put(&'a str),
    /// `put_if`, alone or in a batch.
    PutIf(&'a str),
    /// `delete`, alone or in a batch.
    Delete(&'a str),
}

/// What a test does around the inner store's calls; every hook does nothing by default.
pub trait LakeHooks {
    /// Which of the inner store's own calls are used.
    fn passes(&self) -> Passes {
        Passes::default()
    }
    /// Before a listing.
    fn listing(&mut self, _prefix: &str) {}
    /// Before `key` is read whole (`get`, `get_tagged`). An error is the read's.
    ///
    /// # Errors
    /// The test's.
    fn reading(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }
    /// Before the end of `key` is read (with [`Passes::tails`]). An error is the read's.
    ///
    /// # Errors
    /// The test's.
    fn reading_tail(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }
    /// Before a change (in a batch: each key in turn). An error: that change and the
    /// ones after it are not made.
    ///
    /// # Errors
    /// The test's.
    fn changing(&mut self, _change: Change<'_>) -> Result<()> {
        Ok(())
    }
    /// After a change was made (a conditional write that wrote nothing is no change).
    fn changed(&mut self, _change: Change<'_>) {}
}

/// `inner` with `hooks` around its calls.
pub struct Hooked<H> {
    /// The store the calls go to.
    pub inner: Box<dyn LakeStore>,
    /// The test's hooks.
    pub hooks: H,
}

impl<H> Hooked<H> {
    /// `inner` behind `hooks`.
    pub fn new(inner: Box<dyn LakeStore>, hooks: H) -> Self {
        Self { inner, hooks }
    }
}

impl<H> std::fmt::Debug for Hooked<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hooked({})", self.inner.describe())
    }
}

impl<H: LakeHooks> LakeStore for Hooked<H> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list(&mut self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.hooks.listing(prefix);
        self.inner.list(prefix)
    }
    fn get(&mut self, key: &str) -> Result<Vec<u8>> {
        self.hooks.reading(key)?;
        self.inner.get(key)
    }
    fn put(&mut self, key: &str, body: Vec<u8>) -> Result<()> {
        self.hooks.changing(Change::Put(key))?;
        self.inner.put(key, body)?;
        self.hooks.changed(Change::Put(key));
        Ok(())
    }
    fn delete(&mut self, key: &str) -> Result<()> {
        self.hooks.changing(Change::Delete(key))?;
        self.inner.delete(key)?;
        self.hooks.changed(Change::Delete(key));
        Ok(())
    }
    fn delete_many(&mut self, keys: &[String]) -> Result<()> {
        if !self.hooks.passes().delete_batches {
            return keys.iter().try_for_each(|k| self.delete(k));
        }
        // The keys before a refused one are deleted, as one by one.
        let refused = keys
            .iter()
            .enumerate()
            .find_map(|(i, k)| self.hooks.changing(Change::Delete(k)).err().map(|e| (i, e)));
        let upto = refused.as_ref().map_or(keys.len(), |(i, _)| *i);
        if upto > 0 {
            self.inner.delete_many(&keys[..upto])?;
        }
        keys[..upto]
            .iter()
            .for_each(|k| self.hooks.changed(Change::Delete(k)));
        refused.map_or(Ok(()), |(_, e)| Err(e))
    }
    fn get_tagged(&mut self, key: &str) -> Result<(Vec<u8>, String)> {
        if !self.hooks.passes().conditional {
            let body = self.get(key)?;
            let tag = lakenode::digest::md5_hex(&body);
            return Ok((body, tag));
        }
        self.hooks.reading(key)?;
        self.inner.get_tagged(key)
    }
    fn get_checked(&mut self, key: &str) -> Result<super::Fetched> {
        if !self.hooks.passes().conditional {
            // As `LakeStore`'s default: what `get_tagged` gives (through the hooks).
            let (body, tag) = self.get_tagged(key)?;
            let md5 = lakenode::digest::md5_hex(&body);
            return Ok(super::Fetched { body, md5, tag });
        }
        self.hooks.reading(key)?;
        self.inner.get_checked(key)
    }
    fn put_if(&mut self, key: &str, body: Vec<u8>, expected: Option<&str>) -> Result<bool> {
        if !self.hooks.passes().conditional {
            // As `LakeStore`'s default: read (through the hooks), compare, write.
            let now = match self.get(key) {
                Ok(b) => Some(lakenode::digest::md5_hex(&b)),
                Err(e) if super::is_not_found(&e) => None,
                Err(e) => return Err(e),
            };
            if now.as_deref() != expected {
                return Ok(false);
            }
            self.put(key, body)?;
            return Ok(true);
        }
        self.hooks.changing(Change::PutIf(key))?;
        let written = self.inner.put_if(key, body, expected)?;
        if written {
            self.hooks.changed(Change::PutIf(key));
        }
        Ok(written)
    }
    fn put_many_if(&mut self, puts: Vec<PutIf>) -> Result<Vec<bool>> {
        if !self.hooks.passes().put_batches {
            return puts
                .into_iter()
                .map(|p| self.put_if(&p.key, p.body, p.expected.as_deref()))
                .collect();
        }
        for p in &puts {
            self.hooks.changing(Change::PutIf(&p.key))?;
        }
        let keys: Vec<String> = puts.iter().map(|p| p.key.clone()).collect();
        let written = self.inner.put_many_if(puts)?;
        for (key, w) in keys.iter().zip(&written) {
            if *w {
                self.hooks.changed(Change::PutIf(key));
            }
        }
        Ok(written)
    }
    fn lock(&mut self) -> Result<()> {
        if self.hooks.passes().locks {
            self.inner.lock()
        } else {
            Ok(())
        }
    }
    fn keep_lock(&mut self) -> Result<()> {
        if self.hooks.passes().locks {
            self.inner.keep_lock()
        } else {
            Ok(())
        }
    }
    fn unlock(&mut self) -> Result<()> {
        if self.hooks.passes().locks {
            self.inner.unlock()
        } else {
            Ok(())
        }
    }
    fn get_tail(&mut self, key: &str, bytes: u64, size: u64) -> Result<Vec<u8>> {
        if !self.hooks.passes().tails {
            let mut body = self.get(key)?;
            let keep = usize::try_from(bytes).unwrap_or(usize::MAX).min(body.len());
            return Ok(body.split_off(body.len() - keep));
        }
        self.hooks.reading_tail(key)?;
        self.inner.get_tail(key, bytes, size)
    }
    fn get_tails(
        &mut self,
        objects: &[(String, u64)],
        bytes: u64,
        each: &mut dyn FnMut(usize, Result<Vec<u8>>),
    ) {
        if !self.hooks.passes().tails {
            for (i, (key, size)) in objects.iter().enumerate() {
                each(i, self.get_tail(key, bytes, *size));
            }
            return;
        }
        // The reads the hooks let through go to the store's own pool, under their index.
        let mut through = Vec::with_capacity(objects.len());
        let mut index = Vec::with_capacity(objects.len());
        for (i, object) in objects.iter().enumerate() {
            match self.hooks.reading_tail(&object.0) {
                Ok(()) => {
                    through.push(object.clone());
                    index.push(i);
                }
                Err(e) => each(i, Err(e)),
            }
        }
        if !through.is_empty() {
            self.inner
                .get_tails(&through, bytes, &mut |j, tail| each(index[j], tail));
        }
    }
    fn anomalies(&self) -> Vec<String> {
        if self.hooks.passes().anomalies {
            self.inner.anomalies()
        } else {
            Vec::new()
        }
    }
    fn stamps(&mut self, keys: &[String]) -> Option<Vec<Option<(u64, super::Stamp)>>> {
        self.inner.stamps(keys)
    }
    fn stamp_kind(&self) -> super::StampKind {
        self.inner.stamp_kind()
    }
    fn list_known(&mut self, prefix: &str, known: &super::KnownDirs) -> Result<Vec<super::Listed>> {
        self.hooks.listing(prefix);
        self.inner.list_known(prefix, known)
    }
    fn remove_dead_temporaries(&mut self) -> Vec<String> {
        if self.hooks.passes().anomalies {
            self.inner.remove_dead_temporaries()
        } else {
            Vec::new()
        }
    }
}
