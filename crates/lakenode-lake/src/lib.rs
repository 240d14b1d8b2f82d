//! The lake side of lakenode: what reads or rewrites the files stations wrote.
//!
//! Why a crate of its own: the station side (the core, `lakenode`) writes the lake and
//! runs on the device; the tools that read it back (`lakenode compact`, `report`,
//! `inspect`) are host-only and need none of the CLI's sensors, HTTP client or server.
//! Here they depend on the core only, so the fuzz targets and other tools can use the
//! checked reader and the lake stores without the whole command line. HTTP comes in
//! through the core's [`lakenode::Transport`] (the CLI passes its ureq transport).
//!
//! - [`readback`]: the checked Parquet reader (a damaged footer is an error, never a panic);
//! - [`inspect`]: a person's description of a file (`lakenode inspect`);
//! - [`lake`]: [`lake::LakeStore`], a lake in a directory ([`lake::LocalLake`]) or a bucket
//!   ([`lake::S3Lake`]), and the compaction lock;
//! - [`retry`]: a bucket's requests retried by the station's policy, bounded per request;
//! - [`compact`]: window files of a past UTC day become one daily file;
//! - [`output`]: files replaced atomically (a local lake's objects, the CLI's outputs);
//! - [`integrity`]: whether a file's bytes are the ones its store recorded.
#![forbid(unsafe_code)]

pub mod compact;
pub mod error;
pub mod inspect;
pub mod integrity;
pub mod lake;
pub mod output;
pub mod readback;
pub mod retry;
pub mod rollup;
pub mod summary;
mod tails;

pub use error::{Error, Result};
