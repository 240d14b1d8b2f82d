//! Reading the ends of many objects (the footers of daily files, for a report over
//! months): a seek on disk, a suffix-ranged GET on S3, several at once.
//!
//! Why a pool: a year of 1,000 stations is 730,000 daily files; each read is mostly
//! waiting (a system call, a round trip), so a few in flight keep both the disk and the
//! cores busy. Results come back on the calling thread, in any order.
//!
//! ```no_run
//! use lakenode_lake::lake::{LakeStore, LocalLake};
//! let mut lake = LocalLake::new("lake".into());
//! let objects = lake.list("station=")?;
//! lake.get_tails(&objects, 16 << 10, &mut |i, tail| println!("{}: {:?}", objects[i].0, tail.map(|t| t.len())));
//! # Ok::<(), lakenode_lake::Error>(())
//! ```

use std::path::Path;

use lakenode::s3::{S3Client, check_response};
use lakenode::transport::Transport;

use crate::error::{Error, Result};
use crate::lake::exchange_on;
use crate::retry::Attempts;

/// Requests for tails ([`LakeStore::get_tails`]) in flight at once.
pub const TAIL_READERS: usize = 8;

/// The last `bytes` bytes of the file at `path`.
pub(crate) fn read_tail(path: &Path, bytes: u64) -> Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let from = size.saturating_sub(bytes);
    f.seek(std::io::SeekFrom::Start(from))
        .map_err(|e| Error::io(path, e))?;
    let mut out = Vec::with_capacity(usize::try_from(size - from).unwrap_or(0));
    f.read_to_end(&mut out).map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// Runs `job(i)` for `i` in `0..n` on up to `threads` threads, handing each result to
/// `each` on the calling thread as it comes.
pub(crate) fn pooled<T: Send>(
    n: usize,
    threads: usize,
    each: &mut dyn FnMut(usize, T),
    job: impl Fn(usize) -> T + Sync,
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, T)>(threads * 4);
        for _ in 0..threads.clamp(1, n.max(1)) {
            let (tx, next, job) = (tx.clone(), &next, &job);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n || tx.send((i, job(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            each(i, r);
        }
    });
}

/// The last `bytes` bytes of `full`, an object of `size` bytes as listed, by one ranged
/// GET (`Range: bytes=-N`; a server that ignores the range sends the whole object, of
/// which the end is kept). N is at most the size: S3 and the embedded server answer a
/// longer suffix with the whole object (RFC 9110), but `s3s-fs` 0.14, a server a lake
/// may still be served with (the embedded one until issue 24), answers it with 500
/// InternalError (it seeks before the file's start).
pub(crate) fn tail_on(
    client: &S3Client,
    transport: &mut (dyn Transport + Send),
    attempts: Attempts,
    full: &str,
    (bytes, size): (u64, u64),
) -> Result<Vec<u8>> {
    let what = format!("reading the end of {full}");
    let range = format!("bytes=-{}", bytes.min(size).max(1));
    let (response, attempts) = exchange_on(client, transport, attempts, &what, |c, now| {
        let mut request = c.get_object(full, now);
        request.headers.push(("range", range.clone()));
        request
    })?;
    match check_response(&response) {
        Ok(()) => {
            let mut body = response.body;
            let keep = usize::try_from(bytes).unwrap_or(usize::MAX).min(body.len());
            Ok(body.split_off(body.len() - keep))
        }
        Err(f) if f.code == "NoSuchKey" => Err(Error::io(
            full,
            std::io::Error::new(std::io::ErrorKind::NotFound, f.to_string()),
        )),
        Err(f) => Err(attempts.failed(&what, f)),
    }
}
