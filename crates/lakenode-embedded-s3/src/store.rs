//! The server's storage: each object a plain file at `<data dir>/<bucket>/<key>`, so a
//! lake written through the server is a directory DuckDB or Polars read in place, and
//! `serve` keeps its data across restarts.
//!
//! Why not `s3s-fs` (the s3s project's sample backend, used until issue 24): per PUT it
//! wrote three files (the object, a JSON of its attributes, a JSON of its ETag) through
//! about fifteen blocking-pool hand-offs and resolved every path against `getcwd`; on
//! every GET of an object it had not written itself (a lake built on disk, then served)
//! it hashed the whole object for the ETag, even for an 8-byte ranged read of a footer;
//! and a paginated listing re-read and sorted the whole bucket for every page. No
//! maintained crate stores S3 objects as plain files without those costs (the s3s
//! family's others are gateways), so this one is hand-written for exactly the requests
//! lakenode and its tests make: PutObject (Content-MD5, `If-None-Match: *`, `If-Match`),
//! GetObject (with Range: one range; an invalid or multi-range header is refused with
//! 400 by `s3s` while parsing, where S3 ignores it and answers the whole object, as
//! RFC 9110 14.2 allows either way) and HeadObject (both with the conditional headers:
//! [`conditional`]), DeleteObject(s), ListObjects(V2) (prefix,
//! delimiter, max-keys, continuation token (opaque: one not in this server's form, or
//! not under the listing's prefix, is refused), start-after; each page walked on the
//! blocking pool, directory by directory through their descriptors: `store/list.rs`),
//! HeadBucket, ListBuckets,
//! GetBucketLocation. Anything else answers `NotImplemented`; user metadata and
//! content types are not kept.
//!
//! - A PUT streams its body into a temp file under `<data dir>/.lakenode-s3/tmp/`
//!   (outside every bucket: bucket names cannot start with `.`), hashing it on the way,
//!   and renames it into place: a reader sees the old object or the new one, never part
//!   of one. `If-None-Match: *` links instead of renaming (the kernel refuses an existing
//!   name atomically); `If-Match` compares and renames under one lock. No fsync: the
//!   server is for demos and tests (SECURITY.md), as with `s3s-fs` before.
//! - The ETag (the body's MD5, as S3 gives for a single PUT) is kept in an extended
//!   attribute of the file ([`etag`]), with the inode, size, mtime and ctime it was
//!   computed for. It is written just after the rename (which moves the ctime), goes
//!   wherever the file goes and dies with it; no sidecar file to orphan. A file without a valid one (dropped into the directory by hand,
//!   rewritten in place, or on a file system without user xattrs) is hashed once when
//!   first read, and the result stored for the next read.
//! - Keys are paths, so a few S3 keys cannot be stored, refused as client errors (400)
//!   up front rather than failing as a 500 a client retries: a segment (between two
//!   `/`) over 255 bytes or a key over 1024 (`KeyTooLongError`), a key ending in `/`
//!   (`InvalidArgument`: a "directory marker", which S3 keeps as an empty object,
//!   listed and readable; a file cannot be named like its own directory, and one kept
//!   as a directory used to be answered 200 but then was neither listed nor readable),
//!   a key that is a prefix-directory of stored objects (`a` beside `a/b`).
//!   Deleting an object removes the directories it leaves empty, up to the bucket's.
//! - Symbolic links below a bucket's directory are not followed: a key whose path
//!   passes through one is refused (`403 AccessDenied`) and listings leave them out,
//!   so no request reads or writes outside the data dir through a link placed in it.
//!   The check is made per path component just before the file is used (a link
//!   swapped in by a local user in between is out of scope, as the server is for demos
//!   and tests); a bucket's directory itself may be a link, set up by its operator.
//!   Only regular files are objects: a FIFO, socket or device is not listed, and is
//!   refused (`403`) without blocking (opened `O_NONBLOCK`, checked with `fstat`),
//!   since an open of a FIFO waits for a writer and once held the server's threads.
//! - Small files are read and written inline on the runtime's threads (page-cache
//!   copies of a few hundred KiB cost less than a hand-off to the blocking pool);
//!   reads larger than [`INLINE_READ`] are streamed in chunks.
//!
//! ```no_run
//! // Used by `EmbeddedS3::start`; standalone:
//! let store = lakenode_embedded_s3::store::Store::new("/tmp/s3-data".as_ref())?;
//! let service = s3s::service::S3ServiceBuilder::new(store).build();
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use md5::{Digest as _, Md5};
use s3s::dto::{
    Bucket, DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput,
    DeletedObject, ETag, ETagCondition, GetBucketLocationInput, GetBucketLocationOutput,
    GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput,
    HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListObjectsInput, ListObjectsOutput,
    ListObjectsV2Input, ListObjectsV2Output, PutObjectInput, PutObjectOutput, StreamingBlob,
    Timestamp,
};
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};

mod conditional;
pub mod etag;
mod list;

/// Reads up to this many bytes are answered from one buffer; larger ones are streamed.
pub const INLINE_READ: u64 = 4 << 20;
/// The chunk size of a streamed read.
const CHUNK: usize = 1 << 20;
/// The directory (under the data dir) holding temp files of PUTs in progress.
const TMP_DIR: &str = ".lakenode-s3/tmp";

/// The backend: see the module docs.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    tmp_dir: PathBuf,
    counter: AtomicU64,
    /// Held while an `If-Match` PUT compares and replaces.
    swap: Mutex<()>,
}

fn internal(e: &io::Error, what: &str) -> S3Error {
    tracing::warn!("embedded S3: {what}: {e}");
    s3_error!(InternalError, "{what}: {e}")
}

/// `open` with `O_NOFOLLOW` on a symbolic link fails with this.
#[cfg(unix)]
const ELOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const ELOOP: i32 = -1;

fn not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

impl Store {
    /// Stores buckets under `root` (created if missing); removes temp files a stopped
    /// server left.
    ///
    /// # Errors
    /// The directory cannot be created or read.
    pub fn new(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let tmp_dir = root.join(TMP_DIR);
        match std::fs::remove_dir_all(&tmp_dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&tmp_dir)?;
        Ok(Self {
            root,
            tmp_dir,
            counter: AtomicU64::new(0),
            swap: Mutex::new(()),
        })
    }

    /// The bucket's directory, which must exist.
    fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        // `ServedBuckets` admits only configured names; checked again so the store is
        // safe on its own.
        if !s3s::path::check_bucket_name(bucket) {
            return Err(s3_error!(InvalidBucketName));
        }
        let dir = self.root.join(bucket);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        crate::access::check_key(key)
            .map_err(|why| s3_error!(InvalidArgument, "object key refused: {why}"))?;
        check_key_length(key)?;
        let dir = self.bucket_dir(bucket)?;
        let mut path = dir.clone();
        // No symbolic link below the bucket's directory is followed, so no request
        // reaches a file outside the data dir through one. Checked per component before
        // the file is opened: a link swapped in between is out of scope (module docs).
        for segment in key.split('/').filter(|s| !s.is_empty()) {
            path.push(segment);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(s3_error!(
                        AccessDenied,
                        "the key's path goes through a symbolic link, which this server \
                         does not follow"
                    ));
                }
                Ok(_) => {}
                Err(_) => break, // created by a PUT as a directory or the file
            }
        }
        Ok(dir.join(key))
    }

    /// Opens an object for reading with its metadata; `NoSuchKey` if absent (or a
    /// directory), `AccessDenied` if not a regular file.
    ///
    /// Opened without blocking and without following a final symbolic link: opening a
    /// FIFO placed in the data dir would otherwise wait for a writer on one of the
    /// runtime's two threads, and two such GETs wedged the whole server. Then `fstat`
    /// on the open file decides, so nothing swapped in between is read.
    fn open(path: &Path) -> S3Result<(File, std::fs::Metadata)> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            libc::O_NONBLOCK | libc::O_NOFOLLOW,
        );
        let file = options.open(path).map_err(|e| {
            if not_found(&e) {
                s3_error!(NoSuchKey)
            } else if e.raw_os_error() == Some(ELOOP) {
                s3_error!(
                    AccessDenied,
                    "the key's path is a symbolic link, which this server does not follow"
                )
            } else if cfg!(unix) && e.raw_os_error() == Some(libc::ENXIO) {
                // What opening a UNIX socket gives: not a regular file, as below.
                not_regular()
            } else {
                internal(&e, "open")
            }
        })?;
        let meta = file.metadata().map_err(|e| internal(&e, "stat"))?;
        if meta.is_dir() {
            return Err(s3_error!(NoSuchKey));
        }
        if !meta.is_file() {
            return Err(not_regular());
        }
        Ok((file, meta))
    }

    /// The object `key` of `bucket` for a GET or HEAD: its file, metadata and ETag;
    /// `NoSuchKey` if absent, 412 or 304 if the request's `conditions` say so.
    async fn read_object(
        &self,
        bucket: &str,
        key: &str,
        conditions: conditional::Conditions<'_>,
    ) -> S3Result<(File, std::fs::Metadata, String)> {
        let path = self.object_path(bucket, key)?;
        let (file, meta, tag) = Self::open_tagged(&path).await?;
        conditions
            .check(&tag, conditional::last_modified(&meta).as_ref())
            .map_err(|e| conditional::with_validators(e, &tag, &meta))?;
        Ok((file, meta, tag))
    }

    /// Deletes the object `key` of `bucket` as [`remove`] says (a key ending in `/` is
    /// a directory marker).
    fn delete_key(&self, bucket: &str, key: &str) -> S3Result<()> {
        let path = self.object_path(bucket, key)?;
        remove(&self.root.join(bucket), &path, key.ends_with('/'))
    }

    /// Opens an object and finds its ETag. Hashing a large file that has no stored
    /// ETag (one dropped in by hand) goes to the blocking pool, so one such request
    /// holds none of the runtime's two threads for long: all blocking work a request
    /// does on them is bounded (a non-blocking open, small reads, [`CHUNK`]s).
    async fn open_tagged(path: &Path) -> S3Result<(File, std::fs::Metadata, String)> {
        let (mut file, meta) = Self::open(path)?;
        if let Some(tag) = etag::stored(&file, &meta) {
            return Ok((file, meta, tag));
        }
        if meta.len() <= INLINE_READ {
            let tag = etag::of(&mut file, &meta).map_err(|e| internal(&e, "read"))?;
            return Ok((file, meta, tag));
        }
        tokio::task::spawn_blocking(move || {
            let tag = etag::of(&mut file, &meta);
            (file, meta, tag)
        })
        .await
        .map_err(|e| s3_error!(InternalError, "hashing: {e}"))
        .and_then(|(file, meta, tag)| Ok((file, meta, tag.map_err(|e| internal(&e, "read"))?)))
    }

    /// Writes `body` to a new temp file, checking `content_md5`; returns the file (its
    /// ETag attribute set), its path and the ETag.
    async fn receive(
        &self,
        mut body: StreamingBlob,
        content_md5: Option<&str>,
    ) -> S3Result<(TempFile, String)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp_dir.join(format!("{}-{n}", std::process::id()));
        let file = File::create(&path).map_err(|e| internal(&e, "create temp file"))?;
        let temp = TempFile {
            path,
            file: Some(file),
        };
        let mut out = io::BufWriter::with_capacity(256 << 10, temp.file()?);
        let mut md5 = Md5::new();
        while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
            let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
            md5.update(&chunk);
            out.write_all(&chunk).map_err(|e| internal(&e, "write"))?;
        }
        out.flush().map_err(|e| internal(&e, "write"))?;
        drop(out);
        let digest = md5.finalize();
        if let Some(expected) = content_md5 {
            let expected = base64_decode(expected).ok_or_else(|| s3_error!(InvalidDigest))?;
            if expected != digest.as_slice() {
                return Err(s3_error!(
                    BadDigest,
                    "the Content-MD5 does not match the body"
                ));
            }
        }
        Ok((temp, etag::hex(&digest)))
    }
}

/// The longest key S3 accepts, in bytes.
const MAX_KEY: usize = 1024;
/// The longest file name most file systems accept (`NAME_MAX`), in bytes: each
/// `/`-separated segment of a key is one.
const MAX_SEGMENT: usize = 255;

/// Refuses, as a client error (`KeyTooLongError`), a key the file system cannot hold;
/// the rename would fail with a 500 that an uploader retries as transient.
fn check_key_length(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY {
        return Err(s3_error!(
            KeyTooLongError,
            "the key is {} bytes; at most {MAX_KEY} are allowed",
            key.len()
        ));
    }
    if let Some(long) = key.split('/').find(|s| s.len() > MAX_SEGMENT) {
        return Err(s3_error!(
            KeyTooLongError,
            "a path segment of the key is {} bytes; this server stores keys as files and \
             allows at most {MAX_SEGMENT} bytes between two '/'",
            long.len()
        ));
    }
    Ok(())
}

/// A temp file removed when dropped unless it was moved into place.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn file(&self) -> S3Result<&File> {
        self.file.as_ref().ok_or_else(|| s3_error!(InternalError))
    }

    /// Moves the file to `dest` (creating its directories); with `exclusive`, fails
    /// with `PreconditionFailed` if `dest` exists.
    /// Returns the installed file, open, once the temp name is gone.
    fn install(mut self, dest: &Path, exclusive: bool) -> S3Result<File> {
        let file = self.file.take().ok_or_else(|| s3_error!(InternalError))?;
        let place = |dest: &Path| {
            if exclusive {
                std::fs::hard_link(&self.path, dest)
            } else {
                std::fs::rename(&self.path, dest)
            }
        };
        let mut result = place(dest);
        // A DELETE's clean-up may remove an emptied directory between `create_dir_all`
        // and the rename: then the directories are created once more.
        for _ in 0..2 {
            if !matches!(&result, Err(e) if e.kind() == io::ErrorKind::NotFound) {
                break;
            }
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| internal(&e, "create directory"))?;
            }
            result = place(dest);
        }
        // A directory holding no object (only empty directories, e.g. a directory
        // marker's) does not stand in the way of an object of that name.
        if result.is_err()
            && std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir())
            && remove_empty_dirs(dest)
        {
            result = place(dest);
        }
        match result {
            Ok(()) => Ok(file),
            Err(e) if exclusive && e.kind() == io::ErrorKind::AlreadyExists => {
                Err(s3_error!(PreconditionFailed, "the object already exists"))
            }
            // A file cannot also be a directory: `a` and `a/b` cannot both be objects.
            Err(e)
                if e.kind() == io::ErrorKind::IsADirectory
                    || e.kind() == io::ErrorKind::DirectoryNotEmpty =>
            {
                Err(s3_error!(InvalidArgument, "objects exist below this key"))
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(s3_error!(
                InvalidArgument,
                "an object exists at a prefix of this key"
            )),
            Err(e) => Err(internal(&e, "rename into place")),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After a rename the name is gone (NotFound); after a link it is removed here.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Standard base64 (Content-MD5), `None` if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    // Hand-written: 20 lines against a new dependency for one 24-character header.
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    let text = text.trim_end_matches('=');
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// An object's bytes `range` as a body: one buffer when small, else a chunked stream.
fn body_of(mut file: File, range: std::ops::Range<u64>) -> S3Result<StreamingBlob> {
    let len = range.end - range.start;
    if len <= INLINE_READ {
        let mut buf = vec![0; usize::try_from(len).map_err(|_| s3_error!(InternalError))?];
        read_exact_at(&mut file, range.start, &mut buf).map_err(|e| internal(&e, "read"))?;
        return Ok(StreamingBlob::from(s3s::Body::from(Bytes::from(buf))));
    }
    file.seek(io::SeekFrom::Start(range.start))
        .map_err(|e| internal(&e, "seek"))?;
    Ok(StreamingBlob::wrap(FileChunks { file, left: len }))
}

fn read_exact_at(file: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        file.seek(io::SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// A large read, in [`CHUNK`]s (read inline: a page-cache copy of 1 MiB is shorter
/// than the network write it feeds).
struct FileChunks {
    file: File,
    left: u64,
}

impl Stream for FileChunks {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.left).unwrap_or(CHUNK).min(CHUNK);
        let mut buf = vec![0; n];
        let result = self.file.read_exact(&mut buf).map(|()| Bytes::from(buf));
        self.left = if result.is_ok() {
            self.left - n as u64
        } else {
            0
        };
        Poll::Ready(Some(result))
    }
}

/// A FIFO, socket or device where an object is looked for: refused like a symbolic link.
fn not_regular() -> S3Error {
    s3_error!(
        AccessDenied,
        "the key's path is not a regular file (a FIFO, socket or device), which this server \
         does not serve"
    )
}

fn timestamp(meta: &std::fs::Metadata) -> Option<Timestamp> {
    meta.modified().ok().map(Timestamp::from)
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let checksums = [
            &input.checksum_crc32,
            &input.checksum_crc32c,
            &input.checksum_sha1,
            &input.checksum_sha256,
            &input.checksum_crc64nvme,
        ];
        if input.checksum_algorithm.is_some() || checksums.iter().any(|c| c.is_some()) {
            return Err(s3_error!(
                NotImplemented,
                "x-amz-checksum-* (use Content-MD5)"
            ));
        }
        let dest = self.object_path(&input.bucket, &input.key)?;
        if input.key.ends_with('/') {
            // A "directory marker" (module docs): refused, not answered 200 and lost.
            return Err(s3_error!(
                InvalidArgument,
                "this server stores keys as files and keeps no key ending in '/' (a \
                 directory marker); write objects below the prefix instead"
            ));
        }
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let (temp, md5) = self.receive(body, input.content_md5.as_deref()).await?;
        let installed = match (&input.if_none_match, &input.if_match) {
            (Some(ETagCondition::Any), _) => temp.install(&dest, true)?,
            (Some(ETagCondition::ETag(_)), _) => {
                return Err(s3_error!(NotImplemented, "If-None-Match other than *"));
            }
            (None, Some(condition)) => {
                let _guard = self.swap.lock().map_err(|_| s3_error!(InternalError))?;
                let current = match Self::open(&dest) {
                    Ok((mut file, meta)) => {
                        Some(etag::of(&mut file, &meta).map_err(|e| internal(&e, "read"))?)
                    }
                    Err(_) => None,
                };
                let matches = match (condition, current) {
                    (_, None) => false,
                    (ETagCondition::Any, Some(_)) => true,
                    (ETagCondition::ETag(want), Some(have)) => ETag::Strong(have).strong_cmp(want),
                };
                if !matches {
                    return Err(s3_error!(PreconditionFailed, "the ETag does not match"));
                }
                temp.install(&dest, false)?
            }
            (None, None) => temp.install(&dest, false)?,
        };
        // Recorded once in place: the rename (or link and unlink) moved the file's
        // ctime, which the ETag is recorded with (`etag`'s module doc).
        if let Ok(meta) = installed.metadata() {
            etag::store(&installed, &md5, &meta);
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(md5)),
            ..PutObjectOutput::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let conditions = conditional::Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (file, meta, tag) = self
            .read_object(&input.bucket, &input.key, conditions)
            .await?;
        let size = meta.len();
        let (range, content_range) = match &input.range {
            None => (0..size, None),
            Some(r) => {
                // `check` gives `0..0` for a suffix range of an empty object: no byte
                // is satisfiable there (RFC 9110 14.1.2), so 416 as for `bytes=0-7`.
                let range = r
                    .check(size)
                    .ok()
                    .filter(|r| r.start < r.end)
                    .ok_or_else(|| s3_error!(InvalidRange))?;
                let text = format!("bytes {}-{}/{size}", range.start, range.end - 1);
                (range, Some(text))
            }
        };
        let content_length = i64::try_from(range.end - range.start).ok();
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body_of(file, range)?),
            content_length,
            content_range,
            last_modified: timestamp(&meta),
            e_tag: Some(ETag::Strong(tag)),
            accept_ranges: Some("bytes".to_owned()),
            ..GetObjectOutput::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let conditions = conditional::Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (_, meta, tag) = self
            .read_object(&input.bucket, &input.key, conditions)
            .await?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: i64::try_from(meta.len()).ok(),
            last_modified: timestamp(&meta),
            e_tag: Some(ETag::Strong(tag)),
            accept_ranges: Some("bytes".to_owned()),
            ..HeadObjectOutput::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.delete_key(&input.bucket, &input.key)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let mut deleted = Vec::with_capacity(input.delete.objects.len());
        let mut errors = Vec::new();
        // As S3 does: each key is deleted or gets an error of its own in the answer
        // (a key that cannot be deleted no longer fails the keys after it).
        for object in input.delete.objects {
            match self.delete_key(&input.bucket, &object.key) {
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    version_id: object.version_id,
                    ..DeletedObject::default()
                }),
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    key: Some(object.key),
                    version_id: object.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..DeleteObjectsOutput::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket)?;
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        // S3 lists at most 1000 per page; `max-keys=0` is an empty page that is not
        // truncated (a truncated one would need a token to go on from).
        let max_keys = max_keys.min(1000);
        let after_token = match input.continuation_token.as_deref() {
            None => None,
            // A token is the last key or common prefix of a page of this listing, so
            // it starts with the prefix; one that does not was not given for it.
            Some(t) => Some(
                list::from_token(t)
                    .filter(|key| key.starts_with(input.prefix.as_deref().unwrap_or("")))
                    .ok_or_else(|| {
                        s3_error!(InvalidArgument, "the continuation token is not valid")
                    })?,
            ),
        };
        let start_after = match (after_token.as_deref(), input.start_after.as_deref()) {
            (Some(t), Some(a)) => Some(t.max(a)),
            (t, a) => t.or(a),
        }
        .map(str::to_owned);
        let page = if max_keys == 0 {
            list::Page::default()
        } else {
            // A page walks up to 1000 directories: on the blocking pool, so the
            // runtime's two threads keep answering GETs meanwhile, and several pages
            // (a client listing trees side by side) are walked at once.
            let prefix = input.prefix.clone().unwrap_or_default();
            let delimiter = input.delimiter.clone();
            let max_keys = usize::try_from(max_keys).unwrap_or(1000);
            tokio::task::spawn_blocking(move || {
                list::list(
                    &dir,
                    list::Query {
                        prefix: &prefix,
                        delimiter: delimiter.as_deref(),
                        start_after: start_after.as_deref(),
                        max_keys,
                    },
                )
            })
            .await
            .map_err(|e| s3_error!(InternalError, "listing: {e}"))?
            .map_err(|e| internal(&e, "list"))?
        };
        let key_count = i32::try_from(page.objects.len() + page.common_prefixes.len()).ok();
        Ok(S3Response::new(ListObjectsV2Output {
            key_count,
            max_keys: Some(max_keys),
            is_truncated: Some(page.truncated),
            next_continuation_token: page
                .truncated
                .then(|| page.last.as_deref().map(list::token))
                .flatten(),
            contents: (!page.objects.is_empty()).then_some(page.objects),
            common_prefixes: (!page.common_prefixes.is_empty()).then_some(page.common_prefixes),
            continuation_token: input.continuation_token,
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            ..ListObjectsV2Output::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let v2 = self.list_objects_v2(req.map_input(Into::into)).await?;
        Ok(v2.map_output(|v2| ListObjectsOutput {
            contents: v2.contents,
            common_prefixes: v2.common_prefixes,
            delimiter: v2.delimiter,
            encoding_type: v2.encoding_type,
            name: v2.name,
            prefix: v2.prefix,
            max_keys: v2.max_keys,
            is_truncated: v2.is_truncated,
            // V1's marker is a key (`ListObjectsInput::marker` becomes start-after).
            next_marker: v2
                .next_continuation_token
                .as_deref()
                .and_then(list::from_token),
            ..ListObjectsOutput::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket_dir(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket_dir(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut buckets = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(|e| internal(&e, "list"))? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if s3s::path::check_bucket_name(&name) && entry.path().is_dir() {
                let created = entry.metadata().ok().and_then(|m| timestamp(&m));
                buckets.push(Bucket {
                    name: Some(name),
                    creation_date: created,
                    ..Bucket::default()
                });
            }
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..ListBucketsOutput::default()
        }))
    }
}

/// Deletes an object (a missing one is no error, as on S3); a directory marker key
/// removes its directory if empty. Then removes the directories the deletion left
/// empty, up to the bucket's: S3 has no directories, and one left behind would refuse
/// a later PUT of its name ("objects exist below this key") though none is listed.
fn remove(bucket_dir: &Path, path: &Path, marker: bool) -> S3Result<()> {
    let result = if marker {
        match std::fs::remove_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
            other => other,
        }
    } else {
        std::fs::remove_file(path)
    };
    match result {
        // A file the server may not remove (a read-only directory, `chattr +i`): not
        // a transient failure, so not one a client should retry for minutes.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::warn!("embedded S3: delete: {e}");
            Err(s3_error!(AccessDenied, "delete: {e}"))
        }
        Err(e) if !not_found(&e) => Err(internal(&e, "delete")),
        Err(_) => Ok(()),
        Ok(()) => {
            remove_empty_parents(bucket_dir, path);
            Ok(())
        }
    }
}

/// Removes `path`'s parent directories below `bucket_dir` while they are empty. Race-
/// safe: `rmdir` fails harmlessly on a directory a concurrent PUT just filled, and a
/// PUT whose directory vanished before its rename creates it again ([`TempFile::install`]).
fn remove_empty_parents(bucket_dir: &Path, path: &Path) {
    for dir in path.ancestors().skip(1) {
        if dir == bucket_dir || !dir.starts_with(bucket_dir) || std::fs::remove_dir(dir).is_err() {
            return;
        }
    }
}

/// Removes the directory `dir` if it holds nothing but (nested) empty directories;
/// whether it is gone. Never removes a file, so a concurrent PUT's object survives.
fn remove_empty_dirs(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries {
        let Ok(entry) = entry else { return false };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || !remove_empty_dirs(&entry.path()) {
            return false;
        }
    }
    std::fs::remove_dir(dir).is_ok()
}

#[cfg(test)]
mod tests;
