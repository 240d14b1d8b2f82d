//! The backend through its `S3` trait, without HTTP (the server's own tests and the CLI's
//! integration tests cover the wire).

use std::collections::VecDeque;

use s3s::S3ErrorCode;
use s3s::dto::{Range, StreamingBlob};

use super::*;

fn request<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: Default::default(),
        uri: Default::default(),
        headers: Default::default(),
        extensions: Default::default(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

/// A body arriving in `chunks`, each after one `Pending` (so concurrent PUTs interleave).
struct Slow {
    chunks: VecDeque<Bytes>,
    ready: bool,
}

impl Stream for Slow {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        Poll::Ready(self.chunks.pop_front().map(Ok))
    }
}

fn body(chunks: Vec<Vec<u8>>) -> StreamingBlob {
    StreamingBlob::wrap(Slow {
        chunks: chunks.into_iter().map(Bytes::from).collect(),
        ready: false,
    })
}

fn md5_hex(bytes: &[u8]) -> String {
    etag::hex(&Md5::digest(bytes))
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("lake")).expect("bucket");
    let store = Store::new(dir.path()).expect("store");
    (dir, store)
}

async fn put(store: &Store, key: &str, bytes: &[u8]) -> S3Result<String> {
    let input = PutObjectInput {
        bucket: "lake".into(),
        key: key.into(),
        body: Some(body(vec![bytes.to_vec()])),
        ..PutObjectInput::default()
    };
    let out = store.put_object(request(input)).await?;
    Ok(out.output.e_tag.expect("etag").into_value())
}

/// (ETag, bytes, Content-Range) of a GET.
async fn get(
    store: &Store,
    key: &str,
    range: Option<Range>,
) -> S3Result<(String, Vec<u8>, Option<String>)> {
    let input = GetObjectInput {
        bucket: "lake".into(),
        key: key.into(),
        range,
        ..GetObjectInput::default()
    };
    let out = store.get_object(request(input)).await?.output;
    let mut blob = out.body.expect("body");
    let mut bytes = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut blob).poll_next(cx)).await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    Ok((
        out.e_tag.expect("etag").into_value(),
        bytes,
        out.content_range,
    ))
}

async fn list_page(
    store: &Store,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
    token: Option<String>,
) -> ListObjectsV2Output {
    let input = ListObjectsV2Input {
        bucket: "lake".into(),
        prefix: Some(prefix.into()),
        delimiter: delimiter.map(Into::into),
        max_keys: Some(max_keys),
        continuation_token: token,
        ..ListObjectsV2Input::default()
    };
    store
        .list_objects_v2(request(input))
        .await
        .expect("list")
        .output
}

/// Every key and common prefix of a listing, page by page.
async fn list_all(
    store: &Store,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
) -> Vec<String> {
    let mut all = Vec::new();
    let mut token = None;
    for _ in 0..100 {
        let page = list_page(store, prefix, delimiter, max_keys, token).await;
        let keys = page
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key);
        let prefixes = page
            .common_prefixes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.prefix);
        let mut entries: Vec<String> = keys.chain(prefixes).collect();
        entries.sort();
        assert!(
            entries.len() <= usize::try_from(max_keys).expect("max"),
            "{entries:?}"
        );
        all.extend(entries);
        if page.is_truncated != Some(true) {
            return all;
        }
        token = page.next_continuation_token;
        assert!(token.is_some(), "a truncated page names where to go on");
    }
    panic!("the listing does not end");
}

fn code(err: &S3Error) -> &S3ErrorCode {
    err.code()
}

#[tokio::test]
async fn listing_pages_through_keys_in_byte_order_with_and_without_a_delimiter() {
    let (_dir, store) = store();
    // '-' < '.' < '/' < '0' in bytes: files `a-b` and `a.x` sort before the directory
    // `a/`, which sorts before `a0`; a walk by names alone would get this wrong.
    let keys = [
        "a-b",
        "a.x",
        "a/c",
        "a/d/e",
        "a/d/f",
        "a0",
        "b/x/1",
        "b/x/2",
        "b/y",
        "c.parquet",
    ];
    for key in keys {
        put(&store, key, key.as_bytes()).await.expect("put");
    }
    std::fs::create_dir_all(store.root.join("lake/empty/dir")).expect("an empty directory");
    for max_keys in [1, 2, 3, 1000] {
        assert_eq!(
            list_all(&store, "", None, max_keys).await,
            keys,
            "{max_keys}"
        );
    }
    assert_eq!(list_all(&store, "a/d", None, 1).await, ["a/d/e", "a/d/f"]);
    assert_eq!(
        list_all(&store, "b/x/", None, 1000).await,
        ["b/x/1", "b/x/2"]
    );
    assert!(list_all(&store, "zzz", None, 1000).await.is_empty());
    // With a delimiter: directories fold into common prefixes, empty ones are not listed.
    let want = ["a-b", "a.x", "a/", "a0", "b/", "c.parquet"];
    for max_keys in [1, 2, 1000] {
        assert_eq!(
            list_all(&store, "", Some("/"), max_keys).await,
            want,
            "{max_keys}"
        );
    }
    assert_eq!(list_all(&store, "b/", Some("/"), 1).await, ["b/x/", "b/y"]);
    // start-after, as a client resuming a listing sends it.
    let input = ListObjectsV2Input {
        bucket: "lake".into(),
        start_after: Some("a/d/e".into()),
        ..ListObjectsV2Input::default()
    };
    let page = store
        .list_objects_v2(request(input))
        .await
        .expect("list")
        .output;
    let keys: Vec<_> = page
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect();
    assert_eq!(keys, ["a/d/f", "a0", "b/x/1", "b/x/2", "b/y", "c.parquet"]);
}

#[tokio::test]
async fn a_ranged_get_carries_the_etag_of_the_put_and_only_the_range() {
    let (_dir, store) = store();
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let tag = put(&store, "station=s/data.parquet", &bytes)
        .await
        .expect("put");
    assert_eq!(tag, md5_hex(&bytes));
    let (etag, tail, range) = get(
        &store,
        "station=s/data.parquet",
        Some(Range::Suffix { length: 8 }),
    )
    .await
    .expect("get");
    assert_eq!(
        (etag.as_str(), tail.as_slice()),
        (tag.as_str(), &bytes[99_992..])
    );
    assert_eq!(range.as_deref(), Some("bytes 99992-99999/100000"));
    let whole = get(
        &store,
        "station=s/data.parquet",
        Some(Range::Int {
            first: 10,
            last: Some(19),
        }),
    )
    .await
    .expect("get");
    assert_eq!(whole.1, &bytes[10..20]);
    let err = get(
        &store,
        "station=s/data.parquet",
        Some(Range::Int {
            first: 100_000,
            last: None,
        }),
    )
    .await
    .expect_err("beyond the end");
    assert_eq!(code(&err), &S3ErrorCode::InvalidRange);
    // A large object is streamed, in order.
    let big: Vec<u8> = (0..(INLINE_READ as usize + 3 * CHUNK + 7))
        .map(|i| (i % 253) as u8)
        .collect();
    let tag = put(&store, "big", &big).await.expect("put");
    let (etag, got, _) = get(
        &store,
        "big",
        Some(Range::Int {
            first: 1,
            last: None,
        }),
    )
    .await
    .expect("get");
    assert_eq!(etag, tag);
    assert!(got == big[1..], "the streamed range differs");
}

#[tokio::test]
async fn keys_leaving_the_bucket_and_unknown_buckets_are_refused() {
    let (dir, store) = store();
    for key in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a"] {
        let err = put(&store, key, b"evil").await.expect_err(key);
        assert_eq!(code(&err), &S3ErrorCode::InvalidArgument, "{key}");
    }
    let input = PutObjectInput {
        bucket: "other".into(),
        key: "k".into(),
        body: Some(body(vec![b"x".to_vec()])),
        ..PutObjectInput::default()
    };
    let err = store
        .put_object(request(input))
        .await
        .expect_err("no such bucket");
    assert_eq!(code(&err), &S3ErrorCode::NoSuchBucket);
    put(&store, "in/side", b"ok").await.expect("put");
    assert!(list_all(&store, "../", None, 1000).await.is_empty());
    assert!(list_all(&store, "in/../", None, 1000).await.is_empty());
    // Nothing was written but the bucket's object and the (empty) temp directory.
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join(TMP_DIR))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty());
    assert!(!dir.path().join("x").exists() && !dir.path().join("other").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_of_one_key_leave_one_whole_object() {
    let (dir, store) = store();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for writer in 0..8u8 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let chunks = vec![vec![writer; 64 << 10]; 16];
            let input = PutObjectInput {
                bucket: "lake".into(),
                key: "same/key".into(),
                body: Some(body(chunks)),
                ..PutObjectInput::default()
            };
            store.put_object(request(input)).await.map(|_| ())
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("put");
    }
    let (etag, bytes, _) = get(&store, "same/key", None).await.expect("get");
    assert_eq!(bytes.len(), 16 * (64 << 10));
    assert!(
        bytes.iter().all(|&b| b == bytes[0]),
        "bytes of two writers mixed"
    );
    assert_eq!(etag, md5_hex(&bytes));
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join(TMP_DIR))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
}

#[tokio::test]
async fn an_object_dropped_into_the_directory_by_hand_is_served_with_its_md5() {
    let (dir, store) = store();
    let path = dir.path().join("lake/station=s/by-hand.parquet");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(&path, b"written without the server").expect("write");
    let want = md5_hex(b"written without the server");
    let (etag, _, _) = get(
        &store,
        "station=s/by-hand.parquet",
        Some(Range::Suffix { length: 6 }),
    )
    .await
    .expect("get");
    assert_eq!(etag, want);
    // Hashed once, then stored (where the file system keeps user xattrs).
    let file = File::open(&path).expect("open");
    let meta = file.metadata().expect("stat");
    if cfg!(target_os = "linux") {
        assert_eq!(etag::stored(&file, &meta).as_deref(), Some(want.as_str()));
    }
    let input = HeadObjectInput {
        bucket: "lake".into(),
        key: "station=s/by-hand.parquet".into(),
        ..HeadObjectInput::default()
    };
    let head = store
        .head_object(request(input))
        .await
        .expect("head")
        .output;
    assert_eq!(
        head.e_tag.map(ETag::into_value).as_deref(),
        Some(want.as_str())
    );
    assert_eq!(head.content_length, Some(26));
}

#[tokio::test]
async fn a_wrong_content_md5_or_a_failed_condition_stores_nothing() {
    let (dir, store) = store();
    let input = |key: &str, md5: Option<&str>| PutObjectInput {
        bucket: "lake".into(),
        key: key.into(),
        body: Some(body(vec![b"hello".to_vec()])),
        content_md5: md5.map(Into::into),
        ..PutObjectInput::default()
    };
    // base64 of the MD5 of "hello", and of "world".
    let hello = "XUFAKrxLKna5cZ2REBfFkg==";
    let world = "fXkwN6B2AYZXSwKC8vQ15w==";
    let err = store
        .put_object(request(input("k", Some(world))))
        .await
        .expect_err("bad digest");
    assert_eq!(code(&err), &S3ErrorCode::BadDigest);
    assert!(!dir.path().join("lake/k").exists());
    store
        .put_object(request(input("k", Some(hello))))
        .await
        .expect("good digest");
    // If-None-Match: * refuses an existing key; If-Match wants the current ETag.
    let mut again = input("k", None);
    again.if_none_match = Some(ETagCondition::Any);
    let err = store.put_object(request(again)).await.expect_err("exists");
    assert_eq!(code(&err), &S3ErrorCode::PreconditionFailed);
    let mut wrong = input("k", None);
    wrong.if_match = Some(ETagCondition::ETag(ETag::Strong(md5_hex(b"other"))));
    let err = store
        .put_object(request(wrong))
        .await
        .expect_err("wrong etag");
    assert_eq!(code(&err), &S3ErrorCode::PreconditionFailed);
    let mut right = input("k", None);
    right.if_match = Some(ETagCondition::ETag(ETag::Strong(md5_hex(b"hello"))));
    store.put_object(request(right)).await.expect("right etag");
    let mut absent = input("new", None);
    absent.if_match = Some(ETagCondition::Any);
    let err = store.put_object(request(absent)).await.expect_err("absent");
    assert_eq!(code(&err), &S3ErrorCode::PreconditionFailed);
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join(TMP_DIR))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
}

#[tokio::test]
async fn a_range_of_an_empty_object_is_refused_and_a_long_suffix_gives_the_whole() {
    let (_dir, store) = store();
    put(&store, "empty", b"").await.expect("put");
    for range in [
        Range::Suffix { length: 8 },
        Range::Int {
            first: 0,
            last: Some(7),
        },
        Range::Int {
            first: 0,
            last: None,
        },
    ] {
        let err = get(&store, "empty", Some(range)).await.expect_err("416");
        assert_eq!(code(&err), &S3ErrorCode::InvalidRange, "{range:?}");
    }
    let (_, bytes, _) = get(&store, "empty", None).await.expect("get");
    assert!(bytes.is_empty());
    put(&store, "short", b"abc").await.expect("put");
    let (_, bytes, range) = get(&store, "short", Some(Range::Suffix { length: 8 }))
        .await
        .expect("get");
    assert_eq!(
        (bytes.as_slice(), range.as_deref()),
        (&b"abc"[..], Some("bytes 0-2/3"))
    );
}

async fn delete(store: &Store, key: &str) {
    let input = DeleteObjectInput {
        bucket: "lake".into(),
        key: key.into(),
        ..DeleteObjectInput::default()
    };
    store.delete_object(request(input)).await.expect("delete");
}

#[tokio::test]
async fn deleting_an_object_removes_the_directories_it_leaves_empty() {
    let (dir, store) = store();
    put(&store, "dd/x/y/z", b"deep").await.expect("put");
    put(&store, "dd/keep", b"kept").await.expect("put");
    delete(&store, "dd/x/y/z").await;
    assert!(!dir.path().join("lake/dd/x").exists());
    assert!(dir.path().join("lake/dd/keep").exists() && dir.path().join("lake").is_dir());
    put(&store, "dd/x", b"now a file")
        .await
        .expect("a key once a directory");
    // Via DeleteObjects too, up to (not including) the bucket.
    put(&store, "ee/f/g", b"g").await.expect("put");
    let input = DeleteObjectsInput::builder()
        .bucket("lake".into())
        .delete(s3s::dto::Delete {
            objects: vec![s3s::dto::ObjectIdentifier {
                key: "ee/f/g".into(),
                ..s3s::dto::ObjectIdentifier::default()
            }],
            ..s3s::dto::Delete::default()
        })
        .build()
        .expect("input");
    store.delete_objects(request(input)).await.expect("delete");
    assert!(!dir.path().join("lake/ee").exists() && dir.path().join("lake").is_dir());
    // A directory holding only empty directories does not refuse a PUT of its name;
    // one holding an object still does.
    std::fs::create_dir_all(dir.path().join("lake/hh/i/j")).expect("empty dirs");
    put(&store, "hh", b"h")
        .await
        .expect("put over empty directories");
    put(&store, "kk/l", b"l").await.expect("put");
    let err = put(&store, "kk", b"k").await.expect_err("an object below");
    assert_eq!(code(&err), &S3ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn a_key_ending_in_a_slash_with_a_body_is_refused() {
    let (dir, store) = store();
    let err = put(&store, "folder/", b"lost bytes")
        .await
        .expect_err("refused");
    assert_eq!(code(&err), &S3ErrorCode::InvalidArgument);
    assert!(err.message().is_some_and(|m| m.contains("ending in '/'")));
    assert!(!dir.path().join("lake/folder").exists());
    // An empty directory marker too: it used to be answered 200 and then neither
    // listed nor readable.
    let err = put(&store, "folder/", b"").await.expect_err("marker");
    assert_eq!(code(&err), &S3ErrorCode::InvalidArgument);
    assert!(list_all(&store, "", None, 1000).await.is_empty());
}

#[tokio::test]
async fn a_continuation_token_the_server_did_not_give_is_refused() {
    let (_dir, store) = store();
    for key in ["a", "b", "c"] {
        put(&store, key, b"x").await.expect("put");
    }
    let page = list_page(&store, "", None, 1, None).await;
    let token = page.next_continuation_token.expect("truncated");
    let next = list_page(&store, "", None, 1, Some(token)).await;
    assert_eq!(
        next.contents.expect("contents")[0].key.as_deref(),
        Some("b")
    );
    for bad in ["not-a-token!!", "a", "", "zz"] {
        let input = ListObjectsV2Input {
            bucket: "lake".into(),
            continuation_token: Some(bad.into()),
            ..ListObjectsV2Input::default()
        };
        let err = store.list_objects_v2(request(input)).await.expect_err(bad);
        assert_eq!(code(&err), &S3ErrorCode::InvalidArgument, "{bad}");
    }
    // A token of another prefix's listing (or one forged to jump there): refused, not
    // taken for a key to start after.
    let other = ListObjectsV2Input {
        bucket: "lake".into(),
        prefix: Some("c".into()),
        continuation_token: Some(super::list::token("b")),
        ..ListObjectsV2Input::default()
    };
    let err = store
        .list_objects_v2(request(other))
        .await
        .expect_err("other prefix");
    assert_eq!(code(&err), &S3ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn a_key_the_file_system_cannot_hold_is_a_client_error() {
    let (_dir, store) = store();
    let long = "s".repeat(256);
    for key in [format!("a/{long}/b"), long.clone(), "k/".repeat(600)] {
        let err = put(&store, &key, b"x").await.expect_err("too long");
        assert_eq!(code(&err), &S3ErrorCode::KeyTooLongError, "{}", key.len());
    }
    let err = get(&store, &long, None).await.expect_err("too long");
    assert_eq!(code(&err), &S3ErrorCode::KeyTooLongError);
    put(&store, &"s".repeat(255), b"x")
        .await
        .expect("255 bytes fit");
}

#[tokio::test]
async fn max_keys_zero_is_an_untruncated_empty_page_and_negative_is_refused() {
    let (_dir, store) = store();
    put(&store, "a", b"a").await.expect("put");
    let page = list_page(&store, "", None, 0, None).await;
    assert_eq!(page.is_truncated, Some(false));
    assert!(page.contents.is_none() && page.next_continuation_token.is_none());
    assert_eq!(page.key_count, Some(0));
    let input = ListObjectsV2Input {
        bucket: "lake".into(),
        max_keys: Some(-1),
        ..ListObjectsV2Input::default()
    };
    let err = store
        .list_objects_v2(request(input))
        .await
        .expect_err("negative");
    assert_eq!(code(&err), &S3ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn a_common_prefix_with_keys_after_start_after_is_listed() {
    let (_dir, store) = store();
    for key in ["l/a/a", "l/a/b", "l/a/b0", "l/a/c", "l/b", "m-x/1", "m-y"] {
        put(&store, key, b"k").await.expect("put");
    }
    let listing = |prefix: &str, delimiter: &str, after: &str| ListObjectsV2Input {
        bucket: "lake".into(),
        prefix: Some(prefix.into()),
        delimiter: Some(delimiter.into()),
        start_after: Some(after.into()),
        ..ListObjectsV2Input::default()
    };
    for (input, want) in [
        (listing("l/", "/", "l/a/b"), vec!["l/a/", "l/b"]),
        (listing("", "/", "l/a/b"), vec!["l/", "m-x/", "m-y"]),
        (listing("l/", "/", "l/a/c"), vec!["l/b"]),
        (listing("", "-", "m-x/1"), vec!["m-"]),
        (listing("", "-", "m-y"), vec![]),
    ] {
        let page = store
            .list_objects_v2(request(input))
            .await
            .expect("list")
            .output;
        let mut got: Vec<String> = page
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .chain(
                page.common_prefixes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.prefix),
            )
            .collect();
        got.sort();
        assert_eq!(got, want);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symbolic_links_in_the_bucket_are_not_followed() {
    let (dir, store) = store();
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("secret"), b"secret").expect("write");
    let bucket = dir.path().join("lake");
    std::os::unix::fs::symlink(outside.path(), bucket.join("out")).expect("dir link");
    std::os::unix::fs::symlink(outside.path().join("secret"), bucket.join("f")).expect("link");
    for key in ["out/secret", "f"] {
        let err = get(&store, key, None).await.expect_err(key);
        assert_eq!(code(&err), &S3ErrorCode::AccessDenied, "{key}");
    }
    let err = put(&store, "out/new", b"x")
        .await
        .expect_err("put through a link");
    assert_eq!(code(&err), &S3ErrorCode::AccessDenied);
    assert!(!outside.path().join("new").exists());
    put(&store, "real", b"r").await.expect("put");
    assert_eq!(list_all(&store, "", None, 1000).await, ["real"]);
    assert!(list_all(&store, "out/", None, 1000).await.is_empty());
}

/// Runs `f` on a thread of its own; `None` if it has not answered within 5 s (a GET of
/// a FIFO used to block its thread until a writer came).
fn within_5s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5)).ok()
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_in_the_bucket_is_neither_listed_nor_opened() {
    let (dir, store) = store();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("lake/fifo"))
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo");
    put(&store, "ok", b"x").await.expect("put");
    assert_eq!(list_all(&store, "", None, 1000).await, ["ok"]);
    let store = std::sync::Arc::new(store);
    for head in [false, true] {
        let store = std::sync::Arc::clone(&store);
        let answer = within_5s(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("rt");
            rt.block_on(async {
                if head {
                    let input = HeadObjectInput {
                        bucket: "lake".into(),
                        key: "fifo".into(),
                        ..HeadObjectInput::default()
                    };
                    store.head_object(request(input)).await.map(drop)
                } else {
                    get(&store, "fifo", None).await.map(drop)
                }
            })
        })
        .expect("the request returned instead of waiting for a writer");
        let err = answer.expect_err("a FIFO is not an object");
        assert_eq!(code(&err), &S3ErrorCode::AccessDenied, "head={head}");
    }
    drop(dir);
}

/// Opening a UNIX socket fails (ENXIO) before any fstat: refused as a FIFO is, not a 500
/// that clients would retry (found by the adversarial review).
#[tokio::test]
async fn a_socket_in_the_bucket_is_refused_not_an_internal_error() {
    let (dir, store) = store();
    let _socket =
        std::os::unix::net::UnixListener::bind(dir.path().join("lake/sock")).expect("bind");
    put(&store, "ok", b"x").await.expect("put");
    assert_eq!(list_all(&store, "", None, 1000).await, ["ok"]);
    let err = get(&store, "sock", None)
        .await
        .map(drop)
        .expect_err("a socket is not an object");
    assert_eq!(code(&err), &S3ErrorCode::AccessDenied);
    let input = HeadObjectInput {
        bucket: "lake".into(),
        key: "sock".into(),
        ..HeadObjectInput::default()
    };
    let err = store
        .head_object(request(input))
        .await
        .map(drop)
        .expect_err("HEAD");
    assert_eq!(code(&err), &S3ErrorCode::AccessDenied);
}

#[tokio::test]
async fn conditional_gets_and_heads_answer_412_and_304() {
    let (_dir, store) = store();
    let tag = put(&store, "k", b"v1").await.expect("put");
    let get_if = |if_match: Option<&str>, if_none_match: Option<&str>| {
        let input = GetObjectInput {
            bucket: "lake".into(),
            key: "k".into(),
            if_match: if_match.map(|t| ETagCondition::ETag(ETag::Strong(t.into()))),
            if_none_match: if_none_match.map(|t| ETagCondition::ETag(ETag::Strong(t.into()))),
            ..GetObjectInput::default()
        };
        store.get_object(request(input))
    };
    let err = get_if(Some("nope"), None).await.expect_err("If-Match");
    assert_eq!(code(&err), &S3ErrorCode::PreconditionFailed);
    let err = get_if(None, Some(&tag)).await.expect_err("If-None-Match");
    assert_eq!(code(&err), &S3ErrorCode::NotModified);
    // The 304 carries the validators, as S3's does.
    let headers = err.headers().expect("a 304 with headers");
    assert_eq!(
        headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(format!("\"{tag}\"").as_str())
    );
    assert!(headers.get("last-modified").is_some());
    get_if(Some(&tag), Some("other")).await.expect("both hold");
    let head = HeadObjectInput {
        bucket: "lake".into(),
        key: "k".into(),
        if_unmodified_since: Some(Timestamp::from(std::time::UNIX_EPOCH)),
        ..HeadObjectInput::default()
    };
    let err = store.head_object(request(head)).await.expect_err("HEAD");
    assert_eq!(code(&err), &S3ErrorCode::PreconditionFailed);
}

/// As S3 does, a key that cannot be deleted gets an error of its own in the answer and
/// the keys after it are still deleted (the whole request used to fail at it, leaving
/// them; adversary review 3, F5).
#[tokio::test]
async fn a_key_that_cannot_be_deleted_fails_alone_in_delete_objects() {
    let (dir, store) = store();
    for key in ["a/1", "c/3"] {
        put(&store, key, b"bytes").await.expect("put");
    }
    // `b/../../x` would leave the bucket: refused, alone.
    let objects = ["a/1", "b/../../x", "c/3"]
        .into_iter()
        .map(|key| s3s::dto::ObjectIdentifier {
            key: key.into(),
            ..s3s::dto::ObjectIdentifier::default()
        })
        .collect();
    let input = DeleteObjectsInput::builder()
        .bucket("lake".into())
        .delete(s3s::dto::Delete {
            objects,
            ..s3s::dto::Delete::default()
        })
        .build()
        .expect("input");
    let out = store
        .delete_objects(request(input))
        .await
        .expect("answered")
        .output;
    let deleted: Vec<_> = out
        .deleted
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| d.key)
        .collect();
    assert_eq!(deleted, ["a/1", "c/3"]);
    let errors = out.errors.unwrap_or_default();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key.as_deref(), Some("b/../../x"));
    assert_eq!(errors[0].code.as_deref(), Some("InvalidArgument"));
    assert!(!dir.path().join("lake/a/1").exists() && !dir.path().join("lake/c/3").exists());
}
