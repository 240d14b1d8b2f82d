//! Where a lake lives for the tools that read or rewrite it (`compact` and `report`): a
//! local directory holding the `station=...` trees, or an S3 bucket.
//! Both behind one small trait, so the tools are written once and tested against
//! both (the S3 side against the embedded, signature-checking server).
//!
//! ```no_run
//! use lakenode_lake::lake::{LakeStore, LocalLake};
//! let mut lake = LocalLake::new("lakenode-demo/s3/lakenode".into());
//! for (key, size) in lake.list("station=")? {
//!     println!("{key}: {size} bytes");
//! }
//! # Ok::<(), lakenode_lake::Error>(())
//! ```

use lakenode::clock::{SystemClock, WallClock as _};
use lakenode::s3::{
    MAX_DELETE_BATCH, PutObject, PutOutcome, S3Client, S3Config, check_response, parse_delete,
};
use lakenode::schedule::{Fault, RetryPolicy};
use lakenode::transport::{HttpRequest, HttpResponse, Transport};

use crate::error::{Error, Result};
use crate::retry::{Attempts, RetryBudget, Verdict, key_fault, verdict};
pub use crate::tails::TAIL_READERS;
use crate::tails::{pooled, tail_on};

/// Objects of a lake: list, read, replace, remove. Keys are relative to the lake's
/// root (the bucket plus the prefix, or the directory).
pub trait LakeStore {
    /// The lake, for messages (a directory or `s3://bucket/prefix`).
    fn describe(&self) -> String;
    /// Every object whose key starts with `prefix`, as (key, size), in key order.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn list(&mut self, prefix: &str) -> Result<Vec<(String, u64)>>;
    /// An object's bytes.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn get(&mut self, key: &str) -> Result<Vec<u8>>;
    /// Writes an object, replacing any with that key atomically (readers see the old
    /// or the new bytes, never a mix).
    ///
    /// # Errors
    /// IO or S3 failures.
    fn put(&mut self, key: &str, body: Vec<u8>) -> Result<()>;
    /// Removes an object; removing one that is gone is not an error.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn delete(&mut self, key: &str) -> Result<()>;
    /// Removes objects, as few requests as the store allows (S3: `DeleteObjects`, up
    /// to 1,000 keys each); the default removes them one by one.
    ///
    /// # Errors
    /// IO or S3 failures; on S3, the keys it could not delete, named (the others are
    /// gone).
    fn delete_many(&mut self, keys: &[String]) -> Result<()> {
        keys.iter().try_for_each(|k| self.delete(k))
    }
    /// An object's bytes and a tag that changes whenever the object does (S3's `ETag`,
    /// the MD5 of a local file), for [`LakeStore::put_if`].
    ///
    /// # Errors
    /// IO or S3 failures.
    fn get_tagged(&mut self, key: &str) -> Result<(Vec<u8>, String)> {
        let body = self.get(key)?;
        let tag = lakenode::digest::md5_hex(&body);
        Ok((body, tag))
    }
    /// An object's bytes, their MD5 and the tag of [`LakeStore::get_tagged`], refused
    /// with [`Error::Damaged`] when the store recorded another MD5 for the object: a
    /// [`LocalLake`] file whose `user.lakenode.md5` attribute names another
    /// ([`crate::integrity`]), an [`S3Lake`] body that differs from its `ETag` each time
    /// it is read (an object stored by a single PUT, not encrypted with SSE-KMS or
    /// SSE-C, whose `ETag` is not its MD5). What `compact` reads before it bakes a
    /// file's rows into a daily file and deletes it. The default hashes what
    /// [`LakeStore::get_tagged`] gives.
    ///
    /// # Errors
    /// IO or S3 failures; [`Error::Damaged`].
    fn get_checked(&mut self, key: &str) -> Result<Fetched> {
        let (body, tag) = self.get_tagged(key)?;
        let md5 = lakenode::digest::md5_hex(&body);
        Ok(Fetched { body, md5, tag })
    }
    /// Writes `key` only if it still has the tag `expected` (from
    /// [`LakeStore::get_tagged`]), or with `None` only if it does not exist; `false`
    /// when it changed meanwhile (nothing written). On S3 the check is the server's
    /// (`If-Match` / `If-None-Match`); the default compares, then writes.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn put_if(&mut self, key: &str, body: Vec<u8>, expected: Option<&str>) -> Result<bool> {
        let now = match self.get(key) {
            Ok(b) => Some(lakenode::digest::md5_hex(&b)),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e),
        };
        if now.as_deref() != expected {
            return Ok(false);
        }
        self.put(key, body)?;
        Ok(true)
    }
    /// Writes each of `puts` as [`LakeStore::put_if`] would, and says for each whether
    /// it was written. Every object written is durable when it returns. A store that
    /// can make a batch durable at once does ([`LocalLake`]: the files synced together,
    /// then their directories, a wait on the disk per batch instead of two per file);
    /// the default writes them one after the other.
    ///
    /// # Errors
    /// IO or S3 failures (the objects before the failing one may have been written).
    fn put_many_if(&mut self, puts: Vec<PutIf>) -> Result<Vec<bool>> {
        puts.into_iter()
            .map(|p| self.put_if(&p.key, p.body, p.expected.as_deref()))
            .collect()
    }
    /// Takes the lake's compaction lock (held until [`LakeStore::unlock`] or the end
    /// of the process).
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when another run holds it; IO or S3
    /// failures.
    fn lock(&mut self) -> Result<()> {
        Ok(())
    }
    /// Extends the lock before it expires (S3); call between steps of a long run.
    ///
    /// # Errors
    /// [`Error::Locked`] if the lock was lost; IO or S3 failures.
    fn keep_lock(&mut self) -> Result<()> {
        Ok(())
    }
    /// Releases the lock if this process holds it.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn unlock(&mut self) -> Result<()> {
        Ok(())
    }
    /// The last `bytes` bytes of `key`, an object of `size` bytes (as listed): one
    /// ranged request on S3 (`Range: bytes=-N`), a seek on disk. The default reads the
    /// whole object.
    ///
    /// # Errors
    /// IO or S3 failures.
    fn get_tail(&mut self, key: &str, bytes: u64, size: u64) -> Result<Vec<u8>> {
        let _ = size;
        let mut body = self.get(key)?;
        let keep = usize::try_from(bytes).unwrap_or(usize::MAX).min(body.len());
        Ok(body.split_off(body.len() - keep))
    }
    /// [`LakeStore::get_tail`] of each (key, size) in `objects`, handing each result to
    /// `each` with its index, in any order; stores that can run several requests at
    /// once do (a bounded pool). The default asks one after the other.
    fn get_tails(
        &mut self,
        objects: &[(String, u64)],
        bytes: u64,
        each: &mut dyn FnMut(usize, Result<Vec<u8>>),
    ) {
        for (i, (key, size)) in objects.iter().enumerate() {
            each(i, self.get_tail(key, bytes, *size));
        }
    }
    /// Entries the last [`LakeStore::list`] passed over because they are not plain
    /// objects (a symlink or device in a local lake), for the tools to report.
    fn anomalies(&self) -> Vec<String> {
        Vec::new()
    }
    /// Removes the hidden temporaries (`.<name>.<pid>.tmp`) the last [`LakeStore::list`]
    /// passed over that no run is writing any more (left by a kill), wherever they are
    /// in the lake, and returns their keys. The listing reads their names anyway: no
    /// request or directory read more. A bucket has none.
    fn remove_dead_temporaries(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Another handle on the same lake for a worker thread of a compaction (reads,
    /// writes and deletes; the lock stays with this one), or `None` where the store
    /// is worked through one handle (an [`S3Lake`] without [`S3Lake::with_workers`]).
    fn worker(&self) -> Option<Box<dyn LakeStore + Send>> {
        None
    }
    /// The stamps of the daily files `keys` now ([`Stamp`]: what identifies each
    /// file's version beyond its size), with their sizes; `None` for a file whose
    /// stamps cannot be recorded (its directory holds more than it, a time not yet
    /// [`stamp::SETTLED`]), and `None` for all when the store keeps no stamps (the
    /// default): rollups are then matched by size alone.
    fn stamps(&mut self, keys: &[String]) -> Option<Vec<Option<(u64, Stamp)>>> {
        let _ = keys;
        None
    }
    /// The kind of the stamps this store keeps ([`LakeStore::stamps`]).
    fn stamp_kind(&self) -> StampKind {
        StampKind::None
    }
    /// [`LakeStore::list`], each object with whether its directory was checked by
    /// the stamps `known` holds for it (it still holds that one file, unchanged) instead
    /// of being read; a store that keeps no stamps reads every directory (the default).
    ///
    /// # Errors
    /// IO or S3 failures.
    fn list_known(&mut self, prefix: &str, known: &KnownDirs) -> Result<Vec<Listed>> {
        let _ = known;
        Ok(self
            .list(prefix)?
            .into_iter()
            .map(|(k, s)| (k, s, false))
            .collect())
    }
}

/// An object read by [`LakeStore::get_checked`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Their MD5 (lower-case hex).
    pub md5: String,
    /// The lake's tag of these bytes ([`LakeStore::get_tagged`]).
    pub tag: String,
}

/// An object to write only if it still has the tag `expected` (or, with `None`, only
/// if it does not exist): see [`LakeStore::put_if`].
#[derive(Debug, Clone)]
pub struct PutIf {
    /// Its key.
    pub key: String,
    /// Its bytes.
    pub body: Vec<u8>,
    /// The tag it must still have ([`LakeStore::get_tagged`]), or `None`: it must not
    /// exist.
    pub expected: Option<String>,
}

mod bucket_lock;
#[cfg(feature = "hooks")]
pub mod hooked;
mod local;
mod local_batch;
mod owner;
mod s3_list;
pub mod stamp;
mod written;

pub use local::LocalLake;
use owner::{holder, holder_is_gone, owner_field, owner_text};
pub use stamp::{KnownDir, KnownDirs, Listed, Stamp, StampKind};

/// The lock file of a local lake (hidden: not an object). Locked with `flock`, which
/// the kernel releases when the process ends however it ends, so a lock is never
/// stale; the file is never removed (removing a locked file lets two runs lock two
/// different files).
pub const LOCAL_LOCK: &str = ".lakenode-compact.lock";

/// The lock object of a lake in a bucket, under the prefix.
pub const S3_LOCK: &str = ".lakenode-compact-lock";

/// How long an S3 lock lasts unless its holder extends it.
pub const S3_LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// A lake in an S3 bucket, under an optional prefix. Every request is retried as
/// [`crate::retry`] says (the station's policy, bounded per request).
pub struct S3Lake {
    client: S3Client,
    transport: Box<dyn Transport + Send>,
    prefix: String,
    bucket: String,
    held: Option<HeldLock>,
    /// When the lock object last read was written (its `Last-Modified`), if the server said.
    lock_written: Option<jiff::Timestamp>,
    lock_ttl: std::time::Duration,
    policy: RetryPolicy,
    budget: RetryBudget,
    sleep: fn(std::time::Duration),
    /// Set by a signal: requests are no longer retried.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// More transports, for [`LakeStore::get_tails`] in parallel.
    readers: Vec<Box<dyn Transport + Send>>,
    /// Makes each compaction worker's transport ([`S3Lake::with_workers`]).
    workers: Option<TransportMaker>,
    /// Workers made so far (each gets its own retry jitter).
    workers_made: std::sync::atomic::AtomicU64,
    /// This run's writes, shared with its workers: the stamps of the daily files it
    /// wrote come from their PUTs' replies ([`written`]).
    written: written::Written,
}

/// Makes a transport (a connection of its own) for each worker of a compaction.
pub type TransportMaker = std::sync::Arc<dyn Fn() -> Box<dyn Transport + Send> + Send + Sync>;

/// The S3 lock this process holds.
#[derive(Debug)]
struct HeldLock {
    token: String,
    etag: String,
    renewed: std::time::Instant,
}

impl std::fmt::Debug for S3Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl S3Lake {
    /// The lake in `config`'s bucket under `prefix` (empty: the bucket's root).
    ///
    /// # Errors
    /// The core's message for an endpoint the client cannot address.
    pub fn new(
        config: &S3Config,
        credentials: lakenode::s3::Credentials,
        prefix: Option<&str>,
        transport: impl Transport + Send + 'static,
    ) -> Result<Self> {
        Ok(Self::with_client(
            S3Client::new(config, credentials)?,
            prefix,
            transport,
        ))
    }

    /// The lake in `client`'s bucket under `prefix`, signed by `client` (e.g. one whose
    /// [`lakenode::s3::CredentialSource`] refreshes temporary credentials).
    pub fn with_client(
        client: S3Client,
        prefix: Option<&str>,
        transport: impl Transport + Send + 'static,
    ) -> Self {
        let prefix = prefix
            .map(|p| format!("{}/", p.trim_end_matches('/')))
            .unwrap_or_default();
        let bucket = client.bucket_name().to_owned();
        Self {
            client,
            transport: Box::new(transport),
            prefix,
            bucket,
            held: None,
            lock_written: None,
            lock_ttl: S3_LOCK_TTL,
            // Jittered per run, as each station is: runs never retry in lockstep.
            policy: RetryPolicy::new(
                u64::from(std::process::id())
                    ^ jiff::Timestamp::now().as_nanosecond().unsigned_abs() as u64,
            ),
            budget: RetryBudget::default(),
            sleep: std::thread::sleep,
            stop: None,
            readers: Vec::new(),
            workers: None,
            workers_made: std::sync::atomic::AtomicU64::new(0),
            written: written::Written::default(),
        }
    }

    /// Lets a compaction work on several station-days at once ([`LakeStore::worker`]),
    /// each worker sending its requests over the transport `make` returns, with the
    /// retries, stop flag and credentials of this lake. Without it the lake has no
    /// workers: its compaction runs one station-day at a time.
    #[must_use]
    pub fn with_workers(mut self, make: TransportMaker) -> Self {
        self.workers = Some(make);
        self
    }

    /// Gives the lake more transports (connections), so that [`LakeStore::get_tails`]
    /// runs that many requests at once (a report reading a year of footers).
    #[must_use]
    pub fn with_readers(mut self, readers: Vec<Box<dyn Transport + Send>>) -> Self {
        self.readers = readers;
        self
    }

    /// Changes how requests are retried (default: the station's policy, and
    /// [`RetryBudget::default`]).
    #[must_use]
    pub const fn with_retries(mut self, policy: RetryPolicy, budget: RetryBudget) -> Self {
        self.policy = policy;
        self.budget = budget;
        self
    }

    /// Changes how long the lock lasts unless extended (default [`S3_LOCK_TTL`]; the
    /// run extends it once a third of it has passed).
    #[must_use]
    pub const fn with_lock_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// Ends retries once `stop` is set (SIGTERM, Ctrl-C): a request failing then fails
    /// with [`Error::Stopped`], and a retry's wait wakes within
    /// [`crate::retry::STOP_POLL`]. [`LakeStore::unlock`] still retries a little: the
    /// lock should not outlive the run.
    #[must_use]
    pub fn with_stop(mut self, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Runs `job(i, ...)` for `i` in `0..n`, one at a time per transport (the lake's
    /// own and its readers), with this lake's retries (`Attempts` for each request); results go to `each` on this
    /// thread, in any order.
    fn pooled<T: Send>(
        &mut self,
        n: usize,
        each: &mut dyn FnMut(usize, T),
        job: impl Fn(usize, &S3Client, &mut (dyn Transport + Send), &dyn Fn() -> Attempts) -> T + Sync,
    ) {
        let (policy, budget, sleep) = (self.policy, self.budget, self.sleep);
        let stop = self.stop.clone();
        let client = &self.client;
        let mut pool: Vec<&mut (dyn Transport + Send)> = vec![self.transport.as_mut()];
        pool.extend(
            self.readers
                .iter_mut()
                .map(|t| &mut **t as &mut (dyn Transport + Send)),
        );
        let pool: Vec<std::sync::Mutex<&mut (dyn Transport + Send)>> =
            pool.into_iter().map(std::sync::Mutex::new).collect();
        let turn = std::sync::atomic::AtomicUsize::new(0);
        pooled(n, pool.len(), each, |i| {
            // Each thread takes the first free transport (there are as many as threads).
            let start = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut guard = (0..pool.len())
                .find_map(|k| pool[(start + k) % pool.len()].try_lock().ok())
                .unwrap_or_else(|| {
                    pool[start % pool.len()]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                });
            let attempts = || Attempts::new(policy, budget, sleep).with_stop(stop.clone());
            job(i, client, &mut **guard, &attempts)
        });
    }

    fn attempts(&self) -> Attempts {
        Attempts::new(self.policy, self.budget, self.sleep).with_stop(self.stop.clone())
    }

    /// Sends the request `make` signs (again for each attempt, at that moment), retrying
    /// transient failures; the reply to interpret (a success, or a failure retrying
    /// cannot change) and the attempts it took.
    fn exchange(
        &mut self,
        what: &str,
        make: impl Fn(&S3Client, jiff::Timestamp) -> HttpRequest,
    ) -> Result<(HttpResponse, Attempts)> {
        let attempts = self.attempts();
        exchange_on(&self.client, self.transport.as_mut(), attempts, what, make)
    }

    /// A PUT with `If-Match: expected`, or `If-None-Match: *` without; `Ok(None)` when
    /// the server refused it for the condition (412, or 409 for a concurrent
    /// conditional write), else the reply's `ETag` (`None` if it had none, or was lost).
    fn put_conditional(
        &mut self,
        full: &str,
        body: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<Option<String>>> {
        // The ETag is the server's answer to the condition, not checked against the MD5
        // (stores whose ETags are not MD5s hold lakes too); the MD5 is hashed once, for
        // the signed Content-MD5 and for recognising our own body below.
        let put = PutObject::new(full, body).check_etag(false);
        let md5 = put.digest().hex();
        let what = format!("uploading {full}");
        let unquoted = |t: &str| t.trim_matches('"').to_owned();
        let mut attempts = self.attempts();
        loop {
            let (mut request, reply) = put.clone().sign(&self.client, SystemClock.now());
            match expected {
                Some(tag) => request.headers.push(("if-match", tag.to_owned())),
                None => request.headers.push(("if-none-match", "*".to_owned())),
            }
            let (fault, retry_after, reason) = match verdict(self.transport.send(&request)) {
                Verdict::Done(response) => {
                    return match reply.interpret(&response) {
                        PutOutcome::Stored { .. } => {
                            Ok(Some(response.header("etag").map(str::to_owned)))
                        }
                        PutOutcome::Failed(f) if matches!(f.status, 409 | 412) => Ok(None),
                        PutOutcome::Failed(f) => Err(attempts.failed(&what, f)),
                    };
                }
                Verdict::Stop(reason) => return Err(Error::request(what, reason)),
                Verdict::Retry {
                    fault,
                    retry_after,
                    reason,
                    uncertain,
                } => {
                    if uncertain {
                        // The write may have been done, or the condition refused before
                        // the server read the body (it then closes the connection): what
                        // the object is now tells, before anything is written again.
                        match self.tag_of(full)? {
                            Some(t) if unquoted(&t) == md5 => return Ok(Some(None)),
                            now if now.as_deref().map(unquoted) == expected.map(unquoted) => {}
                            _ => return Ok(None),
                        }
                    }
                    (fault, retry_after, reason)
                }
            };
            attempts.wait(&what, fault, retry_after, &reason)?;
        }
    }

    /// The `ETag` of `full`, `None` if there is no such object.
    fn tag_of(&mut self, full: &str) -> Result<Option<String>> {
        let what = format!("reading {full}");
        let (response, attempts) = self.exchange(&what, |c, now| c.get_object(full, now))?;
        match check_response(&response) {
            Ok(()) => Ok(Some(response.header("etag").map_or_else(
                || lakenode::digest::md5_hex(&response.body),
                str::to_owned,
            ))),
            Err(f) if f.code == "NoSuchKey" || f.status == 404 => Ok(None),
            Err(f) => Err(attempts.failed(&what, f)),
        }
    }

    /// The lock object (text and `ETag`) if there is one, and the server's clock.
    fn read_lock(&mut self) -> Result<(Option<(String, String)>, jiff::Timestamp)> {
        let full = format!("{}{S3_LOCK}", self.prefix);
        let what = format!("reading {full}");
        let (response, attempts) = self.exchange(&what, |c, now| c.get_object(&full, now))?;
        let now = response
            .header("date")
            .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
            .map_or_else(jiff::Timestamp::now, |z| z.timestamp());
        self.lock_written = response
            .header("last-modified")
            .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
            .map(|z| z.timestamp());
        match check_response(&response) {
            Ok(()) => {
                let etag = response.header("etag").unwrap_or_default().to_owned();
                let text = String::from_utf8_lossy(&response.body).into_owned();
                Ok((Some((text, etag)), now))
            }
            Err(f) if f.code == "NoSuchKey" || f.status == 404 => Ok((None, now)),
            Err(f) => Err(attempts.failed(&what, f)),
        }
    }

    /// Writes a lock for `token` expiring the lock's time to live after the server's `now`,
    /// over `expected` (`None`: only if there is none), and reads it back.
    fn write_lock(
        &mut self,
        token: &str,
        now: jiff::Timestamp,
        expected: Option<&str>,
    ) -> Result<bool> {
        let full = format!("{}{S3_LOCK}", self.prefix);
        let expires = now
            .checked_add(jiff::SignedDuration::try_from(self.lock_ttl).unwrap_or_default())
            .unwrap_or(now);
        let text = owner_text(token, Some(expires));
        if self
            .put_conditional(&full, text.into_bytes(), expected)?
            .is_none()
        {
            return Ok(false);
        }
        // Read back: on a server that ignores the condition, a run that wrote at the
        // same moment shows here, and only one of the two sees its own token.
        let (now_there, _) = self.read_lock()?;
        match now_there {
            Some((text, etag)) if owner_field(&text, "owner") == Some(token) => {
                self.held = Some(HeldLock {
                    token: token.to_owned(),
                    etag,
                    renewed: std::time::Instant::now(),
                });
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn locked(&self, text: Option<&str>) -> Error {
        let full = format!("s3://{}/{}{S3_LOCK}", self.bucket, self.prefix);
        match text {
            Some(t) if owner_field(t, "owner").is_none() => Error::Locked(format!(
                "{}: the lock {full} is there but is not a lakenode lock (unreadable{}); \
                 if no compaction is running, delete it",
                self.describe(),
                self.lock_written
                    .map(|w| format!(", written {w}"))
                    .unwrap_or_default(),
            )),
            Some(t) => Error::Locked(format!(
                "{}: the lake is being compacted by another run ({}; the lock {full} \
                 expires at {} unless that run extends it)",
                self.describe(),
                holder(t),
                owner_field(t, "expires").unwrap_or("?"),
            )),
            None => Error::Locked(format!(
                "{}: another run took the lock {full} at the same moment",
                self.describe()
            )),
        }
    }

    /// A GET of `full` (after retries) whose body, when the reply succeeds, matches
    /// the object's `ETag`: for an object stored by a single PUT that is the MD5 of
    /// its bytes, the one the station sent as `Content-MD5`. A body damaged on the way
    /// (plain http has no integrity of its own) is downloaded again, like any transient
    /// failure, instead of being compacted into the daily file. A store whose ETags are
    /// not MD5s (SSE-KMS, multipart `-N` tags) shows it by giving the same bytes twice:
    /// those are taken as they are, unless `strict` (what `compact` reads, then deletes):
    /// the same bytes twice under a 32-digit `ETag` of an object encrypted neither with
    /// SSE-KMS nor SSE-C (whose `ETag`s are not MD5s, as AWS documents) are the bytes the
    /// store holds, and they are not the ones it recorded: [`Error::Damaged`].
    fn download(
        &mut self,
        what: &str,
        full: &str,
        strict: bool,
    ) -> Result<(HttpResponse, Attempts)> {
        let mut mismatches = self.attempts();
        let mut last_mismatch: Option<String> = None;
        loop {
            let (response, attempts) = self.exchange(what, |c, now| c.get_object(full, now))?;
            let Some(tag) = response
                .header("etag")
                .map(|t| t.trim_matches('"').to_owned())
            else {
                return Ok((response, attempts));
            };
            if check_response(&response).is_err()
                || tag.len() != 32
                || !tag.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Ok((response, attempts));
            }
            let md5 = lakenode::digest::md5_hex(&response.body);
            if md5.eq_ignore_ascii_case(&tag) {
                return Ok((response, attempts));
            }
            if last_mismatch.as_deref() == Some(md5.as_str()) {
                let kms = response
                    .header("x-amz-server-side-encryption")
                    .is_some_and(|v| v.starts_with("aws:kms"));
                let sse_c = response
                    .header("x-amz-server-side-encryption-customer-algorithm")
                    .is_some();
                if strict && !kms && !sse_c {
                    return Err(Error::Damaged(format!(
                        "{full}: its bytes are not the ones stored: read twice, their MD5 is \
                         {md5}, its ETag {tag} (damaged in the store)"
                    )));
                }
                return Ok((response, attempts));
            }
            let reason =
                format!("the body's MD5 {md5} is not its ETag {tag} (damaged on the way?)");
            last_mismatch = Some(md5);
            mismatches.wait(what, Fault::Transient, None, &reason)?;
        }
    }

    /// [`LakeStore::get_tagged`] and, `strict`, [`LakeStore::get_checked`].
    fn fetch(&mut self, key: &str, strict: bool) -> Result<Fetched> {
        let full = format!("{}{key}", self.prefix);
        let what = format!("downloading {full}");
        let (response, attempts) = self.download(&what, &full, strict)?;
        check_response(&response).map_err(|f| attempts.failed(&what, f))?;
        self.written.fetched(key, response.header("etag"));
        let md5 = lakenode::digest::md5_hex(&response.body);
        let tag = response
            .header("etag")
            .map_or_else(|| md5.clone(), str::to_owned);
        Ok(Fetched {
            body: response.body,
            md5,
            tag,
        })
    }

    /// The body of a successful reply (after retries).
    fn call(
        &mut self,
        what: &str,
        make: impl Fn(&S3Client, jiff::Timestamp) -> HttpRequest,
    ) -> Result<Vec<u8>> {
        let (response, attempts) = self.exchange(what, make)?;
        check_response(&response).map_err(|f| attempts.failed(what, f))?;
        Ok(response.body)
    }

    /// Deletes up to [`MAX_DELETE_BATCH`] keys (full keys) in one `DeleteObjects`,
    /// again for the keys S3 reports a transient error for; a key already gone is
    /// deleted.
    fn delete_batch(&mut self, keys: &[String]) -> Result<()> {
        let what = format!(
            "deleting {} object(s) from {} ({}...)",
            keys.len(),
            self.describe(),
            keys.first().map_or("", String::as_str)
        );
        let mut left: Vec<String> = keys.to_vec();
        let mut attempts = self.attempts();
        loop {
            let body = self.call(&what, |c, now| {
                let refs: Vec<&str> = left.iter().map(String::as_str).collect();
                c.delete_objects(&refs, now)
            })?;
            let errors: Vec<_> = parse_delete(&body)?
                .into_iter()
                .filter(|(_, code, _)| code != "NoSuchKey")
                .collect();
            let Some((_, code, _)) = errors.first() else {
                return Ok(());
            };
            let listed = |errors: &[(String, String, String)]| {
                let mut text: Vec<String> = errors
                    .iter()
                    .take(5)
                    .map(|(k, code, m)| format!("{k}: {code} ({m})"))
                    .collect();
                if errors.len() > 5 {
                    text.push(format!("and {} more", errors.len() - 5));
                }
                format!(
                    "S3 could not delete {} of them: {}",
                    errors.len(),
                    text.join("; ")
                )
            };
            let fault = key_fault(code);
            if errors
                .iter()
                .any(|(_, c, _)| key_fault(c) != Fault::Transient)
            {
                return Err(attempts.failed(&what, listed(&errors)));
            }
            attempts.wait(&what, fault, None, &listed(&errors))?;
            left = errors.into_iter().map(|(k, _, _)| k).collect();
        }
    }
}

/// [`S3Lake::exchange`] over a given transport (one of a pool's).
pub(crate) fn exchange_on(
    client: &S3Client,
    transport: &mut (dyn Transport + Send),
    mut attempts: Attempts,
    what: &str,
    make: impl Fn(&S3Client, jiff::Timestamp) -> HttpRequest,
) -> Result<(HttpResponse, Attempts)> {
    loop {
        let request = make(client, SystemClock.now());
        match verdict(transport.send(&request)) {
            Verdict::Done(response) => return Ok((response, attempts)),
            Verdict::Retry {
                fault,
                retry_after,
                reason,
                ..
            } => attempts.wait(what, fault, retry_after, &reason)?,
            Verdict::Stop(reason) => return Err(Error::request(what, reason)),
        }
    }
}

impl LakeStore for S3Lake {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// A handle without the lock (this one keeps it) and with a transport of its own.
    fn worker(&self) -> Option<Box<dyn LakeStore + Send>> {
        let make = self.workers.as_ref()?;
        let n = self
            .workers_made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut policy = self.policy;
        // Workers never retry in lockstep either.
        policy.jitter_seed ^= (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Some(Box::new(Self {
            client: self.client.clone(),
            transport: make(),
            prefix: self.prefix.clone(),
            bucket: self.bucket.clone(),
            held: None,
            lock_written: None,
            lock_ttl: self.lock_ttl,
            policy,
            budget: self.budget,
            sleep: self.sleep,
            stop: self.stop.clone(),
            readers: Vec::new(),
            workers: None,
            workers_made: std::sync::atomic::AtomicU64::new(0),
            written: self.written.clone(),
        }))
    }

    /// The trees just below `prefix` (`station=<id>/`: a delimited listing) are then
    /// listed side by side, one per transport ([`S3Lake::with_readers`]): a year of
    /// 1,000 stations is 730 pages, each a round trip the server spends walking its
    /// disk, which one request after the other leaves mostly waiting.
    fn list(&mut self, prefix: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .list_tagged(prefix)?
            .into_iter()
            .map(|(k, s, _)| (k, s))
            .collect())
    }

    /// The listing's `ETag`s are the stamps: a directory is not skipped (there are
    /// none), but a daily file is checked against what its rollup recorded.
    fn list_known(&mut self, prefix: &str, known: &KnownDirs) -> Result<Vec<Listed>> {
        Ok(stamp::checked_by_tags(self.list_tagged(prefix)?, known))
    }

    fn stamp_kind(&self) -> StampKind {
        StampKind::Tags
    }

    /// The `ETag` of each daily file from the reply to this run's PUT of it where the
    /// run knows it is its directory's only object ([`written`]), else from a listing
    /// of its month (one per station-month holding such keys, several at once), where
    /// it is its directory's only object.
    fn stamps(&mut self, keys: &[String]) -> Option<Vec<Option<(u64, Stamp)>>> {
        let known: Vec<_> = keys.iter().map(|k| self.written.stamp(k)).collect();
        let months: std::collections::BTreeSet<&str> = (keys.iter().zip(&known))
            .filter(|(_, s)| s.is_none())
            .filter_map(|(k, _)| stamp::grandparent(k))
            .collect();
        let months: Vec<&str> = months.into_iter().collect();
        let Some(listed) = self.list_months(&months) else {
            return Some(known);
        };
        let from_listing = stamp::alone_by_tags(&listed, keys);
        Some(
            known
                .into_iter()
                .zip(from_listing)
                .map(|(k, l)| k.or(l))
                .collect(),
        )
    }

    fn get(&mut self, key: &str) -> Result<Vec<u8>> {
        let full = format!("{}{key}", self.prefix);
        let what = format!("downloading {full}");
        let (response, attempts) = self.download(&what, &full, false)?;
        match check_response(&response) {
            Ok(()) => {
                self.written.fetched(key, response.header("etag"));
                Ok(response.body)
            }
            // Gone since it was listed (a compaction merged it): as on a local disk.
            Err(f) if f.code == "NoSuchKey" => Err(Error::io(
                &full,
                std::io::Error::new(std::io::ErrorKind::NotFound, f.to_string()),
            )),
            Err(f) => Err(attempts.failed(&what, f)),
        }
    }

    fn get_tail(&mut self, key: &str, bytes: u64, size: u64) -> Result<Vec<u8>> {
        let full = format!("{}{key}", self.prefix);
        let attempts = self.attempts();
        tail_on(
            &self.client,
            self.transport.as_mut(),
            attempts,
            &full,
            (bytes, size),
        )
    }

    /// One request per transport at once ([`S3Lake::with_readers`], plus the lake's own).
    fn get_tails(
        &mut self,
        objects: &[(String, u64)],
        bytes: u64,
        each: &mut dyn FnMut(usize, Result<Vec<u8>>),
    ) {
        let prefix = self.prefix.clone();
        self.pooled(objects.len(), each, |i, client, transport, attempts| {
            let full = format!("{prefix}{}", objects[i].0);
            tail_on(client, transport, attempts(), &full, (bytes, objects[i].1))
        });
    }

    /// The reply's `ETag` is remembered ([`written`]).
    fn put(&mut self, key: &str, body: Vec<u8>) -> Result<()> {
        let full = format!("{}{key}", self.prefix);
        let (what, size) = (format!("uploading {full}"), body.len() as u64);
        self.written.writing(key);
        let (response, attempts) =
            self.exchange(&what, |c, now| c.put_object(&full, body.clone(), now))?;
        check_response(&response).map_err(|f| attempts.failed(&what, f))?;
        self.written.wrote(key, size, response.header("etag"));
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<()> {
        let full = format!("{}{key}", self.prefix);
        let keys = [key.to_owned()];
        self.written.deleting(&keys);
        self.call(&format!("deleting {full}"), |c, now| {
            c.delete_object(&full, now)
        })?;
        self.written.deleted(&keys);
        Ok(())
    }

    fn delete_many(&mut self, keys: &[String]) -> Result<()> {
        self.written.deleting(keys);
        for batch in keys.chunks(MAX_DELETE_BATCH) {
            let full: Vec<String> = batch
                .iter()
                .map(|k| format!("{}{k}", self.prefix))
                .collect();
            self.delete_batch(&full)?;
            self.written.deleted(batch);
        }
        Ok(())
    }

    fn get_tagged(&mut self, key: &str) -> Result<(Vec<u8>, String)> {
        let f = self.fetch(key, false)?;
        Ok((f.body, f.tag))
    }

    fn get_checked(&mut self, key: &str) -> Result<Fetched> {
        self.fetch(key, true)
    }

    /// The reply's `ETag` is remembered ([`written`]).
    fn put_if(&mut self, key: &str, body: Vec<u8>, expected: Option<&str>) -> Result<bool> {
        let full = format!("{}{key}", self.prefix);
        let size = body.len() as u64;
        self.written.writing(key);
        let Some(etag) = self.put_conditional(&full, body, expected)? else {
            return Ok(false);
        };
        self.written.wrote(key, size, etag.as_deref());
        Ok(true)
    }

    fn lock(&mut self) -> Result<()> {
        if self.held.is_some() {
            return Ok(());
        }
        let token = format!(
            "{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        let (current, now) = self.read_lock()?;
        let expected = match &current {
            None => None,
            Some((text, etag)) => {
                // A lock that does not say when it expires (damaged, or not written by
                // lakenode) expires its time to live after it was written; one whose
                // writing time is unknown too is reported, never taken over.
                let expires = owner_field(text, "expires")
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .or_else(|| {
                        let ttl = jiff::SignedDuration::try_from(self.lock_ttl).ok()?;
                        self.lock_written?.checked_add(ttl).ok()
                    });
                // An expired lock, or one whose run ended on this host, is taken over
                // by one run only: the write is conditional on its ETag. One without
                // an expiry is not ours to judge.
                let gone = holder_is_gone(text);
                if expires.is_none_or(|e| e > now) && !gone {
                    return Err(self.locked(Some(text)));
                }
                tracing::warn!(
                    "taking over the compaction lock of a run that {} ({})",
                    if gone { "ended" } else { "expired" },
                    holder(text)
                );
                Some(etag.clone())
            }
        };
        if self.write_lock(&token, now, expected.as_deref())? {
            Ok(())
        } else {
            let (current, _) = self.read_lock()?;
            Err(self.locked(current.as_ref().map(|(t, _)| t.as_str())))
        }
    }

    fn keep_lock(&mut self) -> Result<()> {
        let Some(held) = &self.held else {
            return Ok(());
        };
        if held.renewed.elapsed() < self.lock_ttl / 3 {
            return Ok(());
        }
        let (token, etag) = (held.token.clone(), held.etag.clone());
        let (_, now) = self.read_lock()?;
        self.held = None;
        if self.write_lock(&token, now, Some(&etag))? {
            Ok(())
        } else {
            // Not `Locked` (exit 7, "nothing was changed"): this run changed the lake
            // before it lost the lock; every day it finished is complete.
            Err(Error::LockLost(format!(
                "{}: this run's compaction lock was taken over by another run (it had \
                 expired); stopped before the next day, the days done so far are complete",
                self.describe()
            )))
        }
    }

    fn unlock(&mut self) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        // Released even after a stop, with retries of its own: a few, quick ones (a
        // second signal ends the process at once).
        let stop = self.stop.take();
        let budget = self.budget;
        self.budget = RetryBudget {
            attempts: budget.attempts.min(4),
            per_request: budget.per_request.min(std::time::Duration::from_secs(10)),
        };
        let released = self.read_lock().and_then(|(current, _)| {
            if current.is_some_and(|(text, _)| owner_field(&text, "owner") == Some(&held.token)) {
                self.delete(S3_LOCK)?;
            }
            Ok(())
        });
        (self.stop, self.budget) = (stop, budget);
        released
    }
}

/// Whether `e` says the object is not there (any more).
#[must_use]
pub fn is_not_found(e: &Error) -> bool {
    e.is_not_found()
}

#[cfg(test)]
mod tests {
    use super::owner::{host_name, pid_namespace};
    use super::*;

    #[test]
    fn a_local_lake_deletes_many_files_and_skips_those_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut lake = LocalLake::new(dir.path().into());
        for key in [
            "a/x.parquet",
            "a/y.parquet",
            "b/z.parquet",
            "b/keep.parquet",
        ] {
            lake.put(key, b"PAR1".to_vec()).unwrap();
        }
        let keys = [
            "a/x.parquet",
            "a/y.parquet",
            "b/z.parquet",
            "a/gone.parquet",
        ];
        lake.delete_many(&keys.map(String::from)).unwrap();
        let left: Vec<String> = lake.list("").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, ["b/keep.parquet"]);
        // A worker handle sees the same lake.
        let mut worker = lake.worker().unwrap();
        assert_eq!(worker.get("b/keep.parquet").unwrap(), b"PAR1");
    }

    #[test]
    fn a_local_lake_is_locked_by_one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (
            LocalLake::new(dir.path().into()),
            LocalLake::new(dir.path().into()),
        );
        a.lock().unwrap();
        let e = b.lock().unwrap_err();
        assert!(matches!(e, Error::Locked(_)), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("(pid {} on host ", std::process::id())),
            "{text}"
        );
        a.unlock().unwrap();
        b.lock().unwrap();
        // The lock file is hidden: never listed as an object.
        assert!(b.list("").unwrap().is_empty());
    }

    /// F8: a second run that came while the holder had its lock but had not yet
    /// written its details named it `pid ? on host ? since ?`. The holder's state at
    /// that instant: the lock file whole (as the holder writes it now), the `flock`
    /// taken, the `flock`ed file's details not yet written. And two runs racing.
    #[test]
    fn a_second_run_names_the_holder_even_at_the_instant_it_locks() {
        let dir = tempfile::tempdir().unwrap();
        let ours = format!("(pid {} on host {} since ", std::process::id(), host_name());
        std::fs::write(
            dir.path().join(S3_LOCK),
            owner_text("holder", Some(jiff::Timestamp::now() + S3_LOCK_TTL)),
        )
        .unwrap();
        let flocked = std::fs::File::create(dir.path().join(LOCAL_LOCK)).unwrap();
        flocked.try_lock().unwrap();
        let e = LocalLake::new(dir.path().into()).lock().unwrap_err();
        assert!(matches!(e, Error::Locked(_)), "{e}");
        assert!(e.to_string().contains(&ours), "{e}");
        drop(flocked);
        std::fs::remove_file(dir.path().join(S3_LOCK)).unwrap();
        for _ in 0..100 {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (root, barrier) = (dir.path().to_path_buf(), barrier.clone());
                    std::thread::spawn(move || {
                        let mut lake = LocalLake::new(root);
                        barrier.wait();
                        let got = lake.lock();
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        got.map(|()| lake)
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            for r in &results {
                if let Err(e) = r {
                    assert!(matches!(e, Error::Locked(_)), "{e}");
                    assert!(e.to_string().contains(&ours), "{e}");
                }
            }
            assert!(results.iter().any(Result::is_ok), "one of them holds it");
            for mut lake in results.into_iter().flatten() {
                lake.unlock().unwrap();
            }
        }
    }

    #[test]
    fn only_a_lock_of_an_ended_process_here_counts_as_gone() {
        let here = owner_text("t", None);
        assert!(!holder_is_gone(&here), "this process is alive");
        let ended = here.replace(
            &format!("pid {}", std::process::id()),
            &format!("pid {}", u32::MAX / 2),
        );
        assert_eq!(holder_is_gone(&ended), pid_namespace().is_some());
        let elsewhere = ended.replace(&format!("host {}", host_name()), "host elsewhere");
        assert!(!holder_is_gone(&elsewhere));
    }

    /// A transport that answers from a script, one reply per request, and records what
    /// was asked (method, URL path and query, body).
    type Reply = std::result::Result<HttpResponse, lakenode::transport::TransportError>;
    struct Scripted {
        replies: std::collections::VecDeque<Reply>,
        asked: Asked,
    }

    impl Transport for Scripted {
        fn send(&mut self, r: &HttpRequest) -> Reply {
            let query = r.url.query().unwrap_or_default();
            let delete = if query.contains("delete") {
                "?delete"
            } else {
                ""
            };
            self.asked.lock().expect("lock").push((
                format!("{} {}{delete}", r.method.as_str(), r.url.path()),
                r.headers
                    .iter()
                    .filter(|(n, _)| n.starts_with("if-"))
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect(),
                r.body.clone(),
            ));
            self.replies
                .pop_front()
                .unwrap_or_else(|| panic!("no reply scripted for {}", r.url.path()))
        }
    }

    fn ok(body: &[u8], etag: Option<&str>) -> Reply {
        let mut headers = Vec::new();
        if let Some(t) = etag {
            headers.push(("etag".to_owned(), format!("\"{t}\"")));
        }
        Ok(HttpResponse {
            status: 200,
            headers,
            body: body.to_vec(),
        })
    }

    fn error(status: u16, code: &str) -> Reply {
        Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: format!("<Error><Code>{code}</Code><Message>m</Message></Error>").into_bytes(),
        })
    }

    fn dropped() -> Reply {
        Err(lakenode::transport::TransportError::Io(
            "connection reset".into(),
        ))
    }

    type Asked = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>;

    fn scripted(replies: Vec<Reply>) -> (S3Lake, Asked) {
        let asked = Asked::default();
        let config =
            S3Config::new("http://127.0.0.1:9", "lake", "us-east-1", true).expect("config");
        let mut lake = S3Lake::new(
            &config,
            lakenode::s3::Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None),
            None,
            Scripted {
                replies: replies.into(),
                asked: asked.clone(),
            },
        )
        .expect("lake");
        lake.sleep = |_| {};
        (lake, asked)
    }

    fn asked(a: &Asked) -> Vec<String> {
        a.lock()
            .expect("lock")
            .iter()
            .map(|(m, _, _)| m.clone())
            .collect()
    }

    fn lock_reply(body: &[u8], written: jiff::Timestamp) -> Reply {
        let http_date = |t: jiff::Timestamp| {
            jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&t)
        };
        Ok(HttpResponse {
            status: 200,
            headers: vec![
                ("etag".to_owned(), "\"tag1\"".to_owned()),
                (
                    "last-modified".to_owned(),
                    http_date(written).expect("date"),
                ),
                (
                    "date".to_owned(),
                    http_date(jiff::Timestamp::now()).expect("date"),
                ),
            ],
            body: body.to_vec(),
        })
    }

    /// The stamps of the daily files a run wrote come from its PUT replies, with no
    /// request, once its own listing showed their directory and its deletes left the
    /// daily file alone there; a reply without an `ETag` (some S3-compatible servers)
    /// is stamped from a listing of its month, as before.
    #[test]
    fn stamps_of_a_runs_own_writes_come_from_its_put_replies() {
        let day = "station=a/year=2026/month=11/day=03";
        let listing = |names: &[(&str, &str)]| {
            let contents: String = names
                .iter()
                .map(|(n, t)| {
                    format!(
                        "<Contents><Key>{day}/{n}</Key><ETag>&quot;{t}&quot;</ETag>\
                         <Size>10</Size></Contents>"
                    )
                })
                .collect();
            let xml = format!(
                "<ListBucketResult><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
            );
            ok(xml.as_bytes(), None)
        };
        let windows = [
            format!("{day}/data_0000.parquet"),
            format!("{day}/data_0015.parquet"),
        ];
        let daily = format!("{day}/data_day.parquet");
        let want = Stamp {
            file: stamp::etag_stamp("0123"),
            dir: 0,
        };
        for etag in [Some("0123"), None] {
            let mut replies = vec![
                listing(&[("data_0000.parquet", "t1"), ("data_0015.parquet", "t2")]),
                ok(b"", etag),
                ok(
                    br#"<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>"#,
                    None,
                ),
            ];
            if etag.is_none() {
                replies.push(listing(&[("data_day.parquet", "0123")]));
            }
            let (mut lake, a) = scripted(replies);
            assert_eq!(lake.list("").expect("listed").len(), 2);
            assert!(lake.put_if(&daily, vec![0; 10], None).expect("written"));
            lake.delete_many(&windows).expect("deleted");
            let stamps = lake.stamps(std::slice::from_ref(&daily));
            assert_eq!(stamps, Some(vec![Some((10, want))]), "{etag:?}");
            let lists = asked(&a).iter().filter(|m| m.starts_with("GET")).count();
            assert_eq!(lists, if etag.is_some() { 1 } else { 2 }, "{etag:?}");
        }
    }

    #[test]
    fn a_lock_that_is_not_lakenodes_is_reported_and_expires_from_when_it_was_written() {
        // Written just now: reported as what it is, with what to do.
        let (mut lake, _) = scripted(vec![lock_reply(b"garbage", jiff::Timestamp::now())]);
        let e = lake.lock().unwrap_err();
        assert!(matches!(e, Error::Locked(_)), "{e}");
        assert!(e.to_string().contains("not a lakenode lock"), "{e}");
        // Written two days ago: taken over like an expired lock (the write is
        // conditional on its ETag; here another run's lock shows on reading back).
        let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48);
        let (mut lake, a) = scripted(vec![
            lock_reply(b"garbage", old),
            ok(b"", Some("tag2")),
            lock_reply(b"owner other\n", jiff::Timestamp::now()),
            lock_reply(b"owner other\n", jiff::Timestamp::now()),
        ]);
        assert!(lake.lock().is_err());
        let puts: Vec<_> = a
            .lock()
            .expect("lock")
            .iter()
            .filter(|(m, _, _)| m.starts_with("PUT"))
            .map(|(_, h, _)| h.clone())
            .collect();
        assert_eq!(puts, ["if-match: \"tag1\""], "the old lock was taken over");
    }

    #[test]
    fn a_body_damaged_on_the_way_is_downloaded_again() {
        let good = b"PAR1 the window PAR1".to_vec();
        let tag = lakenode::digest::md5_hex(&good);
        let mut damaged = good.clone();
        damaged[5] ^= 0x04;
        let (mut lake, a) = scripted(vec![ok(&damaged, Some(&tag)), ok(&good, Some(&tag))]);
        assert_eq!(lake.get("k").unwrap(), good);
        assert_eq!(asked(&a).len(), 2, "the damaged body was not taken");
        // Damaged every time: the request gives up, naming the mismatch, and nothing
        // damaged is returned.
        let mut other = damaged.clone();
        other[6] ^= 0x01;
        let replies = (0..8)
            .map(|i| ok(if i % 2 == 0 { &damaged } else { &other }, Some(&tag)))
            .collect();
        let (mut lake, _) = scripted(replies);
        let e = lake.get("k").unwrap_err().to_string();
        assert!(
            e.contains("is not its ETag") && e.contains("gave up after"),
            "{e}"
        );
    }

    #[test]
    fn a_store_whose_etags_are_not_md5s_gives_the_same_bytes_twice_and_is_believed() {
        let body = b"PAR1 kms PAR1".to_vec();
        let kms_tag = "0123456789abcdef0123456789abcdef";
        let (mut lake, a) = scripted(vec![ok(&body, Some(kms_tag)), ok(&body, Some(kms_tag))]);
        assert_eq!(lake.get("k").unwrap(), body);
        assert_eq!(asked(&a).len(), 2);
        // A multipart ETag is no MD5 at all: taken at once.
        let (mut lake, a) = scripted(vec![ok(&body, Some("0123456789abcdef0123456789abcdef-3"))]);
        assert_eq!(lake.get("k").unwrap(), body);
        assert_eq!(asked(&a).len(), 1);
    }

    /// F4: what `compact` reads and then deletes is not believed when the store gives
    /// the same bytes twice under an MD5 `ETag` they do not have, unless the object is
    /// encrypted with SSE-KMS or SSE-C (whose `ETag`s are not MD5s).
    #[test]
    fn a_body_that_is_not_its_etag_every_time_is_damaged_for_compact() {
        let body = b"PAR1 rotted PAR1".to_vec();
        let tag = lakenode::digest::md5_hex(b"PAR1 stored PAR1");
        let (mut lake, a) = scripted(vec![ok(&body, Some(&tag)), ok(&body, Some(&tag))]);
        let e = lake.get_checked("k").unwrap_err();
        assert!(matches!(e, Error::Damaged(_)), "{e}");
        assert!(e.to_string().contains("not the ones stored"), "{e}");
        assert_eq!(asked(&a).len(), 2);
        let kms = |body: &[u8]| {
            let mut r = ok(body, Some(&tag)).expect("reply");
            r.headers.push((
                "x-amz-server-side-encryption".to_owned(),
                "aws:kms".to_owned(),
            ));
            Ok(r)
        };
        let (mut lake, _) = scripted(vec![kms(&body), kms(&body)]);
        let f = lake.get_checked("k").expect("SSE-KMS: believed");
        assert_eq!(
            (f.body, f.md5),
            (body.clone(), lakenode::digest::md5_hex(&body))
        );
        let good = lakenode::digest::md5_hex(&body);
        let (mut lake, _) = scripted(vec![ok(&body, Some(&good))]);
        assert_eq!(
            lake.get_checked("k").expect("intact").tag,
            format!("\"{good}\"")
        );
    }

    #[test]
    fn transient_failures_are_retried_and_refusals_are_not() {
        let (mut lake, a) = scripted(vec![error(500, "InternalError"), dropped(), ok(b"x", None)]);
        assert_eq!(lake.get("k").expect("third attempt"), b"x");
        assert_eq!(asked(&a).len(), 3);
        let (mut lake, a) = scripted(vec![error(503, "SlowDown"), error(403, "AccessDenied")]);
        let e = lake.get("k").expect_err("refused");
        assert_eq!(asked(&a).len(), 2, "a refusal is not retried");
        assert!(
            e.to_string().contains("AccessDenied") && e.to_string().contains("(at attempt 2)"),
            "{e}"
        );
        let (mut lake, a) = scripted((0..8).map(|_| error(500, "InternalError")).collect());
        let e = lake.get("k").expect_err("budget spent");
        assert_eq!(asked(&a).len(), 8);
        assert!(e.to_string().contains("gave up after 8 attempt(s)"), "{e}");
    }

    #[test]
    fn a_conditional_write_whose_reply_was_lost_is_found_written() {
        let body = b"lock text".to_vec();
        let md5 = lakenode::digest::md5_hex(&body);
        let (mut lake, a) = scripted(vec![dropped(), ok(&body, Some(&md5))]);
        assert!(lake.put_if("k", body, None).expect("written"));
        assert_eq!(
            asked(&a),
            ["PUT /lake/k", "GET /lake/k"],
            "read back, not written twice"
        );
    }

    #[test]
    fn a_condition_refused_behind_a_lost_reply_is_not_written_again() {
        let (mut lake, a) = scripted(vec![dropped(), ok(b"another run's", Some("other"))]);
        assert!(!lake.put_if("k", b"ours".to_vec(), None).expect("answered"));
        assert_eq!(asked(&a), ["PUT /lake/k", "GET /lake/k"]);
    }

    #[test]
    fn unchanged_after_a_lost_reply_or_a_500_the_write_is_sent_again_with_its_condition() {
        let (mut lake, a) = scripted(vec![
            error(500, "InternalError"),
            ok(b"old", Some("t1")),
            dropped(),
            ok(b"old", Some("t1")),
            ok(b"", Some("t2")),
        ]);
        assert!(
            lake.put_if("k", b"new".to_vec(), Some("\"t1\""))
                .expect("written")
        );
        let log = a.lock().expect("lock").clone();
        let puts: Vec<_> = log
            .iter()
            .filter(|(m, _, _)| m.starts_with("PUT"))
            .collect();
        assert_eq!(puts.len(), 3);
        assert!(
            puts.iter().all(|(_, h, _)| h == "if-match: \"t1\""),
            "{puts:?}"
        );
    }

    #[test]
    fn deletes_go_in_batches_and_keys_s3_could_not_delete_yet_are_sent_again() {
        let keys: Vec<String> = (0..1001).map(|i| format!("d/{i:04}.parquet")).collect();
        let result = |errors: &str| {
            ok(
                format!(r#"<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{errors}</DeleteResult>"#)
                    .as_bytes(),
                None,
            )
        };
        let (mut lake, a) = scripted(vec![
            error(503, "SlowDown"),
            result(
                "<Error><Key>d/0007.parquet</Key><Code>InternalError</Code><Message>m</Message></Error><Error><Key>d/0008.parquet</Key><Code>NoSuchKey</Code><Message>m</Message></Error>",
            ),
            result(""),
            result(""),
        ]);
        lake.delete_many(&keys).expect("deleted");
        let log = a.lock().expect("lock").clone();
        assert_eq!(log.len(), 4);
        assert!(
            log.iter().all(|(m, _, _)| m == "POST /lake/?delete"),
            "{log:?}"
        );
        let count = |b: &[u8]| String::from_utf8_lossy(b).matches("<Key>").count();
        assert_eq!(
            log.iter().map(|(_, _, b)| count(b)).collect::<Vec<_>>(),
            [1000, 1000, 1, 1],
            "1000 keys, again after the 503, then the one with a transient error, then the rest"
        );
        assert!(String::from_utf8_lossy(&log[2].2).contains("d/0007.parquet"));

        let (mut lake, _) = scripted(vec![result(
            "<Error><Key>d/0001.parquet</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        )]);
        let e = lake.delete_many(&keys[..3]).expect_err("refused");
        assert!(
            e.to_string()
                .contains("S3 could not delete 1 of them: d/0001.parquet: AccessDenied"),
            "{e}"
        );
    }
}
