//! S3 requests and replies, sans-IO: presigned requests built with `rusty-s3`, and
//! replies turned into typed outcomes that carry the upload schedule's fault.
//!
//! Three parts, kept apart because they change for different reasons: [`config`]
//! (where objects go and who signs: checked once, secrets redacted), [`client`] (the
//! actions: a presigned request each, and for a PUT the judge of its reply) and
//! [`reply`] (what any reply means: the error table, S3's error documents, listings).
//! Their items are re-exported here, so `lakenode::s3::X` names each of them.

pub mod client;
pub mod config;
pub mod reply;

#[cfg(feature = "list")]
pub use client::MAX_DELETE_BATCH;
pub use client::{DEFAULT_EXPIRY, PutObject, PutOutcome, PutReply, S3Client};
pub use config::{CredentialSource, Credentials, S3Config};
#[cfg(feature = "list")]
pub use reply::{DeleteError, ListPage, parse_delete, parse_list};
pub use reply::{MAX_RETRY_AFTER, S3Failure, SKEW_TOLERANCE, check_response};
