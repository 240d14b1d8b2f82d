//! Reading lakenode's Parquet files back, from any source: the demo's end-to-end check,
//! `inspect`, and anything else in the project that reads a file it did not just write.
//!
//! Why a layer over the `parquet` crate: its reader trusts the footer. A changed footer
//! byte makes it panic (a negative column offset asserts inside
//! `ColumnChunkMetaData::byte_range`), and a footer claiming 2^28 rows made our own
//! `Vec::with_capacity` ask for 21 GB. So [`open`] checks the trailer, the footer
//! length, every column chunk's byte range and the row counts against the file's size
//! *before* anything is decoded or allocated from them, and the decoding that follows
//! runs behind [`std::panic::catch_unwind`] as a last resort: a panic the checks did not
//! foresee becomes an error naming the file, never a crash. Samples are read column by
//! column in batches ([`LakeFile::for_each_batch`], the one sample decoder: compaction,
//! reports, `inspect` and the checks all use it), so memory stays bounded by one batch
//! whatever the footer claims.
//!
//! ```
//! # fn demo(bytes: Vec<u8>) -> Result<(), lakenode_lake::readback::ReadError> {
//! let file = lakenode_lake::readback::open(bytes)?;
//! file.for_each_batch(|batch| {
//!     for sample in batch {
//!         println!("{}", sample.timestamp_ms);
//!     }
//! })?;
//! # Ok(()) }
//! ```

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use bytes::Bytes;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, TIMESTAMP_COLUMN};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Row;

/// Most rows a file may claim per byte of its `timestamp` column chunk. A lakenode
/// `timestamp` chunk is DELTA_BINARY_PACKED: at best 128 values per 5 encoded bytes
/// (a zero-width block), which Snappy can shrink about 21 times more, so no genuine file
/// comes near 1,024; a footer that claims more is damaged or hostile.
const MAX_ROWS_PER_TIMESTAMP_BYTE: i64 = 1024;

/// Why a file could not be read. The message says what is wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(String);

impl ReadError {
    /// An error with this message (for readers built on [`LakeFile`]).
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A file whose footer passed validation, ready to be described or decoded.
pub struct LakeFile {
    reader: SerializedFileReader<Bytes>,
    size: usize,
    footer_len: usize,
    columns: Vec<Measurement>,
}

impl std::fmt::Debug for LakeFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeFile")
            .field("size", &self.size)
            .field("rows", &self.rows())
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// Opens `bytes` as a Parquet file and validates its footer (see the module docs).
///
/// The schema is not required to be lakenode's: [`LakeFile::for_each_batch`] checks that.
///
/// # Errors
/// [`ReadError`] if the bytes are not Parquet, or the footer is damaged or inconsistent
/// with the file's size.
pub fn open(bytes: impl Into<Bytes>) -> Result<LakeFile, ReadError> {
    let bytes: Bytes = bytes.into();
    let size = bytes.len();
    let footer_len = check_trailer(&bytes)?;
    thrift::Reader::new(&bytes[size - 8 - footer_len..size - 8])
        .schema_counts_fit()
        .map_err(|e| ReadError::new(format!("the footer is damaged: {e}")))?;
    let reader = guarded("reading the footer", || {
        SerializedFileReader::new(bytes.clone()).map_err(|e| ReadError::new(e.to_string()))
    })??;
    check_footer(reader.metadata(), size - 8 - footer_len)?;
    check_page_headers(&bytes, reader.metadata())?;
    let columns = lakenode_columns(reader.metadata());
    Ok(LakeFile {
        reader,
        size,
        footer_len,
        columns,
    })
}

/// The footer's length from the 8-byte trailer, after checking both magic numbers.
fn check_trailer(bytes: &[u8]) -> Result<usize, ReadError> {
    const MAGIC: &[u8; 4] = b"PAR1";
    let size = bytes.len();
    if size < 12 {
        return Err(ReadError::new(format!(
            "{size} bytes is too short for Parquet (at least 12)"
        )));
    }
    if &bytes[..4] != MAGIC || &bytes[size - 4..] != MAGIC {
        return Err(ReadError::new(
            "no PAR1 magic at the start and end: not a Parquet file (or a truncated one)",
        ));
    }
    let len = u32::from_le_bytes([
        bytes[size - 8],
        bytes[size - 7],
        bytes[size - 6],
        bytes[size - 5],
    ]) as usize;
    if len > size - 12 {
        return Err(ReadError::new(format!(
            "the footer claims {len} bytes but the file has only {} before it",
            size - 12
        )));
    }
    Ok(len)
}

/// Checks everything later reads trust: row counts and each column chunk's byte range.
/// `data_end` is where the footer starts.
fn check_footer(md: &ParquetMetaData, data_end: usize) -> Result<(), ReadError> {
    let fmd = md.file_metadata();
    let leaves = fmd.schema_descr().num_columns();
    let mut rows: i64 = 0;
    for (i, rg) in md.row_groups().iter().enumerate() {
        let bad = |what: String| ReadError::new(format!("row group {i}: {what}"));
        if rg.num_rows() < 0 {
            return Err(bad(format!("negative row count {}", rg.num_rows())));
        }
        if rg.num_columns() != leaves {
            return Err(bad(format!(
                "{} column chunks for {leaves} schema columns",
                rg.num_columns()
            )));
        }
        for c in rg.columns() {
            let name = c.column_descr().path().string();
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            // The data page offset is not part of the range read (pyarrow writes 0 for
            // a chunk holding only a dictionary page), but must not point outside.
            let in_range = start >= 4
                && usize::try_from(c.data_page_offset()).is_ok_and(|d| d <= data_end)
                && c.compressed_size() >= 0
                && c.num_values() >= 0
                && start
                    .checked_add(c.compressed_size())
                    .is_some_and(|end| usize::try_from(end).is_ok_and(|end| end <= data_end));
            if !in_range {
                return Err(bad(format!(
                    "column `{name}` claims bytes {start}..+{} (values {}), outside the \
                     file's data (4..{data_end})",
                    c.compressed_size(),
                    c.num_values()
                )));
            }
        }
        if let Some(ts) = rg.columns().first() {
            let limit = ts
                .compressed_size()
                .saturating_mul(MAX_ROWS_PER_TIMESTAMP_BYTE);
            if rg.num_rows() > limit {
                return Err(bad(format!(
                    "claims {} rows in a {}-byte first column: damaged row count",
                    rg.num_rows(),
                    ts.compressed_size()
                )));
            }
        }
        rows = rows
            .checked_add(rg.num_rows())
            .ok_or_else(|| ReadError::new("row counts overflow"))?;
    }
    if rows != fmd.num_rows() {
        return Err(ReadError::new(format!(
            "the footer claims {} rows but its row groups hold {rows}",
            fmd.num_rows()
        )));
    }
    Ok(())
}

/// Most a page may grow when decompressed: LZ4 stays under 255x, Snappy under 22x.
const MAX_PAGE_EXPANSION: i64 = 256;

/// Walks every page header of every column chunk with a bounded Thrift reader before
/// the parquet crate decodes them. Why by hand: the crate's stream-based Thrift reader
/// does not stop at the end of its input when skipping an unknown list (each element
/// "skips" zero bytes), so a 2 KB file whose page header claimed a list of 2^31 doubles
/// kept a core busy for 5 s per column chunk (found by the `parquet_readback` fuzz
/// target). Here every list is bounded by the bytes left, pages must tile their chunk
/// exactly, and a page may not claim to decompress to more than 256 times its size.
fn check_page_headers(bytes: &[u8], md: &ParquetMetaData) -> Result<(), ReadError> {
    for (g, rg) in md.row_groups().iter().enumerate() {
        for c in rg.columns() {
            let name = c.column_descr().path().string();
            let bad =
                |what: String| ReadError::new(format!("row group {g}, column `{name}`: {what}"));
            // Ranges were checked by `check_footer`.
            let start = usize::try_from(c.dictionary_page_offset().unwrap_or(c.data_page_offset()))
                .unwrap_or(0);
            let end = start + usize::try_from(c.compressed_size()).unwrap_or(0);
            let mut pos = start;
            while pos < end {
                let mut thrift = thrift::Reader::new(&bytes[pos..end]);
                let header = thrift
                    .page_header()
                    .map_err(|e| bad(format!("damaged page header at byte {pos}: {e}")))?;
                let (Ok(compressed), true) = (
                    usize::try_from(header.compressed),
                    header.uncompressed >= 0
                        && i64::from(header.uncompressed)
                            <= i64::from(header.compressed) * MAX_PAGE_EXPANSION + 65_536,
                ) else {
                    return Err(bad(format!(
                        "page at byte {pos} claims {} bytes that decompress to {}",
                        header.compressed, header.uncompressed
                    )));
                };
                pos += thrift.consumed();
                pos = pos
                    .checked_add(compressed)
                    .filter(|&p| p <= end)
                    .ok_or_else(|| {
                        bad(format!("a page runs past the column chunk's end ({end})"))
                    })?;
            }
        }
    }
    Ok(())
}

/// The few fields of a page header the checks need, read with Thrift's compact protocol
/// by a reader that never reads past its slice (see [`check_page_headers`]).
mod thrift {
    /// Sizes from a page header.
    pub struct PageSizes {
        /// `uncompressed_page_size` (field 2).
        pub uncompressed: i32,
        /// `compressed_page_size` (field 3).
        pub compressed: i32,
    }

    /// A compact-protocol reader over one slice.
    pub struct Reader<'a> {
        data: &'a [u8],
        pos: usize,
    }

    type R<T> = Result<T, &'static str>;

    impl<'a> Reader<'a> {
        pub const fn new(data: &'a [u8]) -> Self {
            Self { data, pos: 0 }
        }

        pub const fn consumed(&self) -> usize {
            self.pos
        }

        fn byte(&mut self) -> R<u8> {
            let b = *self.data.get(self.pos).ok_or("ends early")?;
            self.pos += 1;
            Ok(b)
        }

        fn skip(&mut self, n: usize) -> R<()> {
            if n > self.data.len() - self.pos {
                return Err("ends early");
            }
            self.pos += n;
            Ok(())
        }

        fn varint(&mut self) -> R<u64> {
            let mut v = 0_u64;
            for shift in (0..70).step_by(7) {
                let b = self.byte()?;
                v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err("varint too long")
        }

        fn zigzag(&mut self) -> R<i64> {
            let v = self.varint()?;
            #[allow(clippy::cast_possible_wrap)] // zigzag decoding is bit reinterpretation
            Ok((v >> 1) as i64 ^ -((v & 1) as i64))
        }

        /// A collection's element count, which can never exceed the bytes left (every
        /// element takes at least one).
        fn count(&mut self, n: u64) -> R<usize> {
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= self.data.len() - self.pos)
                .ok_or("a collection claims more elements than bytes left")
        }

        /// Skips one value of compact type `t`.
        fn skip_value(&mut self, t: u8, depth: u8) -> R<()> {
            if depth == 0 {
                return Err("nested too deeply");
            }
            match t {
                1 | 2 => Ok(()), // a bool in a field header
                3 => self.skip(1),
                4..=6 => self.varint().map(drop),
                7 => self.skip(8),
                8 => {
                    let n = self.varint()?;
                    let n = self.count(n)?;
                    self.skip(n)
                }
                9 | 10 => {
                    let head = self.byte()?;
                    let n = match head >> 4 {
                        15 => self.varint()?,
                        n => u64::from(n),
                    };
                    let elem = head & 0x0f;
                    for _ in 0..self.count(n)? {
                        if matches!(elem, 1 | 2) {
                            self.skip(1)?; // bools in a list take a byte each
                        } else {
                            self.skip_value(elem, depth - 1)?;
                        }
                    }
                    Ok(())
                }
                11 => {
                    let n = self.varint()?;
                    let n = self.count(n)?;
                    if n > 0 {
                        let kv = self.byte()?;
                        for _ in 0..n {
                            self.skip_value(kv >> 4, depth - 1)?;
                            self.skip_value(kv & 0x0f, depth - 1)?;
                        }
                    }
                    Ok(())
                }
                12 => self.skip_struct(depth - 1, |_, _, r, d| r.skip_value(d, depth - 1)),
                13 => self.skip(16),
                _ => Err("unknown field type"),
            }
        }

        /// Reads a struct's fields, handing each (id, type) to `field`.
        fn skip_struct(
            &mut self,
            depth: u8,
            mut field: impl FnMut(i64, u8, &mut Self, u8) -> R<()>,
        ) -> R<()> {
            if depth == 0 {
                return Err("nested too deeply");
            }
            let mut id = 0_i64;
            loop {
                let head = self.byte()?;
                if head == 0 {
                    return Ok(());
                }
                let t = head & 0x0f;
                id = match head >> 4 {
                    0 => self.zigzag()?,
                    delta => id + i64::from(delta),
                };
                field(id, t, self, t)?;
            }
        }

        /// Reads a `FileMetaData` struct through its end, checking that no schema
        /// element claims more children than the schema has elements: the parquet
        /// crate allocates for the claimed count before it reads them, so a forged
        /// count would abort the process (an allocation failure is not a panic).
        pub fn schema_counts_fit(&mut self) -> R<()> {
            self.skip_struct(32, |id, t, r, _| match (id, t) {
                (2, 9) => {
                    let head = r.byte()?;
                    let n = match head >> 4 {
                        15 => r.varint()?,
                        n => u64::from(n),
                    };
                    let elements = r.count(n)?;
                    if head & 0x0f != 12 {
                        return Err("the schema is not a list of structs");
                    }
                    for _ in 0..elements {
                        r.skip_struct(31, |id, t, r, _| match (id, t) {
                            (5, 5) => match usize::try_from(r.zigzag()?) {
                                Ok(c) if c < elements => Ok(()),
                                _ => Err("a schema element claims more children than the schema has elements"),
                            },
                            (_, t) => r.skip_value(t, 31),
                        })?;
                    }
                    Ok(())
                }
                (_, t) => r.skip_value(t, 32),
            })
        }

        /// A length-prefixed string.
        fn string(&mut self) -> R<String> {
            let n = self.varint()?;
            let n = self.count(n)?;
            let bytes = &self.data[self.pos..self.pos + n];
            self.pos += n;
            String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not UTF-8")
        }

        /// Reads a `FileMetaData` struct through its end, keeping `num_rows` (field 3)
        /// and the key/value metadata (field 5: a list of `KeyValue` structs).
        pub fn file_facts(&mut self) -> R<(i64, Vec<(String, String)>)> {
            let (mut rows, mut pairs) = (None, Vec::new());
            self.skip_struct(32, |id, t, r, _| match (id, t) {
                (3, 6) => {
                    rows = Some(r.zigzag()?);
                    Ok(())
                }
                (5, 9) => {
                    let head = r.byte()?;
                    let n = match head >> 4 {
                        15 => r.varint()?,
                        n => u64::from(n),
                    };
                    let n = r.count(n)?;
                    if head & 0x0f != 12 {
                        return Err("the key/value metadata is not a list of structs");
                    }
                    for _ in 0..n {
                        let (mut key, mut value) = (None, None);
                        r.skip_struct(31, |id, t, r, _| match (id, t) {
                            (1, 8) => {
                                key = Some(r.string()?);
                                Ok(())
                            }
                            (2, 8) => {
                                value = Some(r.string()?);
                                Ok(())
                            }
                            (_, t) => r.skip_value(t, 31),
                        })?;
                        pairs.push((
                            key.ok_or("a key/value without a key")?,
                            value.unwrap_or_default(),
                        ));
                    }
                    Ok(())
                }
                (_, t) => r.skip_value(t, 32),
            })?;
            Ok((rows.ok_or("no row count")?, pairs))
        }

        /// Reads a `PageHeader` struct through its end, keeping fields 2 and 3.
        pub fn page_header(&mut self) -> R<PageSizes> {
            let (mut uncompressed, mut compressed) = (None, None);
            self.skip_struct(32, |id, t, r, _| match (id, t) {
                (2, 5) => {
                    uncompressed = i32::try_from(r.zigzag()?).ok();
                    Ok(())
                }
                (3, 5) => {
                    compressed = i32::try_from(r.zigzag()?).ok();
                    Ok(())
                }
                (_, t) => r.skip_value(t, 32),
            })?;
            match (uncompressed, compressed) {
                (Some(uncompressed), Some(compressed)) => Ok(PageSizes {
                    uncompressed,
                    compressed,
                }),
                _ => Err("page sizes missing"),
            }
        }
    }
}

/// How many bytes of a file's end to ask for first when only its footer is wanted:
/// a compacted day's footer (one row group, the sources list, the summary) is ~8 KB.
pub const FOOTER_TAIL: u64 = 16 << 10;

/// What a file's footer says, read from its end alone ([`footer_of_tail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// Rows the footer declares.
    pub rows: u64,
    /// Its key/value metadata.
    pub key_values: Vec<(String, String)>,
}

/// The footer read from `tail`, the last bytes of a file of `file_size` bytes, or
/// `Err(Ok(n))` when the footer needs the last `n` bytes (ask again).
///
/// Only the row count and the key/value metadata are decoded, by the same bounded
/// reader as the checks (no allocation from a claimed count): a report reading a
/// year of footers spends microseconds on each, not a full metadata decode.
///
/// # Errors
/// `Err(Err(_))` when the bytes are not a Parquet file's end or the footer is damaged.
pub fn footer_of_tail(tail: &[u8], file_size: u64) -> Result<Footer, Result<u64, ReadError>> {
    const MAGIC: &[u8; 4] = b"PAR1";
    let n = tail.len();
    if file_size < 12 || n < 8 || n as u64 > file_size || &tail[n - 4..] != MAGIC {
        return Err(Err(ReadError::new(
            "no PAR1 magic at the end: not a Parquet file (or a truncated one)",
        )));
    }
    let len = u64::from(u32::from_le_bytes([
        tail[n - 8],
        tail[n - 7],
        tail[n - 6],
        tail[n - 5],
    ]));
    if len > file_size - 12 {
        return Err(Err(ReadError::new(format!(
            "the footer claims {len} bytes but the file has only {} before it",
            file_size - 12
        ))));
    }
    let Some(start) = usize::try_from(len).ok().and_then(|l| n.checked_sub(8 + l)) else {
        return Err(Ok(len + 8));
    };
    let (rows, key_values) = thrift::Reader::new(&tail[start..n - 8])
        .file_facts()
        .map_err(|e| Err(ReadError::new(format!("the footer is damaged: {e}"))))?;
    let rows = u64::try_from(rows)
        .map_err(|_| Err(ReadError::new(format!("the footer claims {rows} rows"))))?;
    Ok(Footer { rows, key_values })
}

/// The measurement columns, if the schema is lakenode's (`timestamp` first); empty
/// otherwise ([`LakeFile::check_schema`] says why).
fn lakenode_columns(md: &ParquetMetaData) -> Vec<Measurement> {
    md.file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .skip(1)
        .filter_map(|c| Measurement::from_name(c.name()))
        .collect()
}

impl LakeFile {
    /// The validated footer.
    #[must_use]
    pub fn metadata(&self) -> &ParquetMetaData {
        self.reader.metadata()
    }

    /// Size of the whole file in bytes.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.size
    }

    /// Length of the Thrift footer plus its 8-byte trailer.
    #[must_use]
    pub const fn footer_len(&self) -> usize {
        self.footer_len + 8
    }

    /// Rows the footer declares (checked against its row groups).
    #[must_use]
    pub fn rows(&self) -> u64 {
        u64::try_from(self.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// Measurement columns present, in file order.
    #[must_use]
    pub fn columns(&self) -> &[Measurement] {
        &self.columns
    }

    /// Footer key/value metadata.
    #[must_use]
    pub fn key_values(&self) -> Vec<(String, String)> {
        self.metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks the schema is lakenode's: a `timestamp` column of INT64 TIMESTAMP(MILLIS)
    /// first, then known measurements as FLOAT or INT32, all flat.
    ///
    /// # Errors
    /// [`ReadError`] naming the first column that is not one lakenode writes.
    pub fn check_schema(&self) -> Result<(), ReadError> {
        use parquet::basic::{LogicalType, TimeUnit, Type as Physical};
        let descr = self.metadata().file_metadata().schema_descr();
        if descr.root_schema().get_fields().len() != descr.num_columns() {
            return Err(ReadError::new("nested columns: not a lakenode layout"));
        }
        for (i, c) in descr.columns().iter().enumerate() {
            let name = c.name();
            let ok = if i == 0 {
                name == TIMESTAMP_COLUMN
                    && c.physical_type() == Physical::INT64
                    && matches!(
                        c.logical_type_ref(),
                        Some(LogicalType::Timestamp(ts)) if ts.unit == TimeUnit::MILLIS
                    )
            } else {
                Measurement::from_name(name).is_some()
                    && matches!(c.physical_type(), Physical::FLOAT | Physical::INT32)
            };
            if !ok {
                return Err(ReadError::new(format!(
                    "column `{name}` ({}) is not one lakenode writes (`{TIMESTAMP_COLUMN}` INT64 \
                     TIMESTAMP(MILLIS) first, then measurements as FLOAT or INT32)",
                    c.physical_type()
                )));
            }
        }
        Ok(())
    }

    /// Every row as the parquet crate's generic [`Row`], in file order (for files that
    /// are not sample files, such as health rows).
    ///
    /// # Errors
    /// [`ReadError`] if a page is damaged or the row count differs from the footer's.
    pub fn rows_generic(&self) -> Result<Vec<Row>, ReadError> {
        self.checked_rows()?.collect()
    }

    /// The parquet crate's rows behind [`guarded`], checked against the footer's count.
    fn checked_rows(&self) -> Result<CheckedRows<'_>, ReadError> {
        let rows = guarded("opening the rows", || {
            self.reader
                .get_row_iter(None)
                .map_err(|e| ReadError::new(e.to_string()))
        })??;
        Ok(CheckedRows {
            rows,
            expected: self.rows(),
            seen: 0,
            failed: false,
        })
    }
}

impl LakeFile {
    /// Every sample in file order, handed to `f` in batches of up to 1,024, read column by
    /// column (values and definition levels) instead of as row objects, so without
    /// allocating per row: measurement columns of either profile (FLOAT, or
    /// INT32/DECIMAL) become counts at each sensor's resolution, and the row count the
    /// footer declares is checked. A batch handed to `f` is complete; an error ends the
    /// reading.
    ///
    /// # Errors
    /// [`ReadError`] if the schema is not lakenode's, a page is damaged, or a column
    /// holds another number of rows than its row group declares.
    pub fn for_each_batch(&self, mut f: impl FnMut(&[Sample])) -> Result<u64, ReadError> {
        use parquet::basic::{ConvertedType, LogicalType};
        use parquet::column::reader::ColumnReader;
        const BATCH: usize = 1024;
        self.check_schema()?;
        let descr = self.metadata().file_metadata().schema_descr();
        // How each measurement column's values become counts.
        let mut kinds = Vec::with_capacity(self.columns.len());
        for (j, &m) in self.columns.iter().enumerate() {
            let c = descr.column(j + 1);
            let decimal = matches!(c.logical_type_ref(), Some(LogicalType::Decimal(..)))
                || c.converted_type() == ConvertedType::DECIMAL;
            let decimal_scale = decimal.then(|| c.type_scale());
            let int_ok = match decimal_scale {
                Some(scale) => u32::try_from(scale).ok() == Some(m.decimals()),
                None => m.decimals() == 0,
            };
            if c.max_rep_level() != 0 || c.max_def_level() > 1 {
                return Err(ReadError::new(format!(
                    "column `{m}` is nested or repeated"
                )));
            }
            kinds.push((m, int_ok, c.max_def_level() == 1));
        }
        let timestamp = descr.column(0);
        if timestamp.max_rep_level() != 0 || timestamp.max_def_level() > 1 {
            return Err(ReadError::new("the timestamp column is nested or repeated"));
        }
        let timestamp_optional = timestamp.max_def_level() == 1;
        let err = |e: parquet::errors::ParquetError| ReadError::new(e.to_string());
        let mut total: u64 = 0;
        let mut samples: Vec<Sample> = Vec::with_capacity(BATCH);
        for g in 0..self.reader.num_row_groups() {
            let group =
                guarded("opening a row group", || self.reader.get_row_group(g))?.map_err(err)?;
            let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
            let mut readers = Vec::with_capacity(kinds.len() + 1);
            for j in 0..=kinds.len() {
                readers.push(
                    guarded("opening a column", || group.get_column_reader(j))?.map_err(err)?,
                );
            }
            let mut done = 0;
            while done < rows {
                let batch = (rows - done).min(BATCH);
                samples.clear();
                guarded("decoding a page", || -> Result<(), ReadError> {
                    let short = |what: &str, got: usize| {
                        ReadError::new(format!(
                            "row group {g}: column `{what}` ends after {} of its {rows} rows",
                            done + got
                        ))
                    };
                    let ColumnReader::Int64ColumnReader(ts) = &mut readers[0] else {
                        return Err(ReadError::new("the timestamp column is not INT64"));
                    };
                    let mut times = Vec::with_capacity(batch);
                    // Other writers (pyarrow) declare the timestamp nullable: read its
                    // levels, and refuse a null as the row reader does.
                    let mut ts_defs: Vec<i16> = Vec::new();
                    let ts_levels = timestamp_optional.then_some(&mut ts_defs);
                    let (n, _, _) = ts
                        .read_records(batch, ts_levels, None, &mut times)
                        .map_err(err)?;
                    if timestamp_optional && ts_defs.iter().any(|&d| d != 1) {
                        return Err(ReadError::new(
                            "a timestamp is missing or not TIMESTAMP(MILLIS)",
                        ));
                    }
                    if n != batch || times.len() != batch {
                        return Err(short(TIMESTAMP_COLUMN, n));
                    }
                    samples.extend(times.iter().map(|&t| Sample::new(t)));
                    let mut defs: Vec<i16> = Vec::with_capacity(batch);
                    for (&(m, int_ok, optional), reader) in kinds.iter().zip(&mut readers[1..]) {
                        let column = Column { batch, optional };
                        let counts = match reader {
                            ColumnReader::FloatColumnReader(r) => {
                                column.counts(r, &mut defs, |v: f32| {
                                    if v.is_finite() {
                                        to_count(m, f64::from(v))
                                    } else {
                                        Err(ReadError::new(format!(
                                            "column `{m}` holds a value of a type lakenode does not write"
                                        )))
                                    }
                                })
                            }
                            ColumnReader::Int32ColumnReader(r) if int_ok => {
                                column.counts(r, &mut defs, Ok)
                            }
                            _ => Err(ColumnError::Read(ReadError::new(format!(
                                "column `{m}` holds a value of a type lakenode does not write"
                            )))),
                        }
                        .map_err(|e| match e {
                            ColumnError::Short(n) => short(m.name(), n),
                            ColumnError::Read(e) => e,
                        })?;
                        for (sample, count) in samples.iter_mut().zip(counts) {
                            sample.set_count(m, count);
                        }
                    }
                    Ok(())
                })??;
                f(&samples);
                done += batch;
                total += batch as u64;
            }
        }
        if total != self.rows() {
            return Err(ReadError::new(format!(
                "the row groups hold {total} rows, the footer declares {}",
                self.rows()
            )));
        }
        Ok(total)
    }
}

/// One measurement column of a batch being read (see [`LakeFile::for_each_batch`]).
struct Column {
    batch: usize,
    optional: bool,
}

/// Why a column's batch could not be read.
enum ColumnError {
    /// The column ended after this many of the batch's rows.
    Short(usize),
    /// Anything else.
    Read(ReadError),
}

impl From<ReadError> for ColumnError {
    fn from(e: ReadError) -> Self {
        Self::Read(e)
    }
}

impl Column {
    /// The batch's counts (null where the row has no value), from a column reader of
    /// either physical type, each value converted by `count`.
    fn counts<T: parquet::data_type::DataType>(
        &self,
        reader: &mut parquet::column::reader::ColumnReaderImpl<T>,
        defs: &mut Vec<i16>,
        count: impl Fn(T::T) -> Result<i32, ReadError>,
    ) -> Result<Vec<Option<i32>>, ColumnError> {
        defs.clear();
        let mut values = Vec::with_capacity(self.batch);
        let (n, _, _) = reader
            .read_records(
                self.batch,
                self.optional.then_some(&mut *defs),
                None,
                &mut values,
            )
            .map_err(|e| ReadError::new(e.to_string()))?;
        if n != self.batch || (self.optional && defs.len() != self.batch) {
            return Err(ColumnError::Short(n));
        }
        let mut values = values.into_iter();
        let mut out = Vec::with_capacity(self.batch);
        for has_value in present(defs, self.optional, self.batch) {
            // Values are packed: only a row with a value takes the next one.
            out.push(if has_value {
                Some(count(values.next().ok_or(ColumnError::Short(0))?)?)
            } else {
                None
            });
        }
        Ok(out)
    }
}

/// Whether each of `batch` rows has a value, from the definition levels of an optional
/// column (all present for a required one).
fn present(defs: &[i16], optional: bool, batch: usize) -> impl Iterator<Item = bool> + '_ {
    let n = if optional { defs.len() } else { batch };
    (0..n).map(move |i| !optional || defs[i] == 1)
}

/// Rows in file order; ends with one error, not a panic, if a page is damaged or the
/// pages hold another number of rows than the footer declares.
struct CheckedRows<'a> {
    rows: parquet::record::reader::RowIter<'a>,
    expected: u64,
    seen: u64,
    failed: bool,
}

impl Iterator for CheckedRows<'_> {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = match guarded("decoding a page", || self.rows.next()) {
            Ok(Some(Ok(row))) => {
                self.seen += 1;
                if self.seen > self.expected {
                    Err(ReadError::new(format!(
                        "more rows than the {} the footer declares",
                        self.expected
                    )))
                } else {
                    Ok(row)
                }
            }
            Ok(Some(Err(e))) => Err(ReadError::new(e.to_string())),
            Ok(None) if self.seen == self.expected => return None,
            Ok(None) => Err(ReadError::new(format!(
                "the pages hold {} rows, the footer declares {}",
                self.seen, self.expected
            ))),
            Err(e) => Err(e),
        };
        self.failed = next.is_err();
        Some(next)
    }
}

/// A file's rows as samples, plus its key/value metadata.
#[derive(Debug, Clone)]
pub struct DecodedFile {
    /// Rows, in file order.
    pub samples: Vec<Sample>,
    /// Measurement columns present, in file order.
    pub columns: Vec<Measurement>,
    /// Footer key/value metadata.
    pub key_values: Vec<(String, String)>,
}

/// Opens, validates and decodes a whole lakenode file of either profile into memory.
/// For files whose size the caller bounds (a window, a day); stream with [`open`] and
/// [`LakeFile::samples`] otherwise.
///
/// # Errors
/// [`ReadError`] if the bytes are not Parquet, are damaged, or have columns lakenode
/// does not write.
pub fn decode(bytes: impl Into<Bytes>) -> Result<DecodedFile, ReadError> {
    let file = open(bytes)?;
    let mut samples = Vec::new();
    file.for_each_batch(|batch| samples.extend_from_slice(batch))?;
    Ok(DecodedFile {
        samples,
        columns: file.columns.clone(),
        key_values: file.key_values(),
    })
}

/// The count at `m`'s resolution nearest to `value`, if it fits a count.
#[allow(clippy::cast_possible_truncation)] // range checked first
fn to_count(m: Measurement, value: f64) -> Result<i32, ReadError> {
    let count = (value * f64::from(m.scale())).round();
    if count.abs() <= f64::from(i32::MAX) {
        Ok(count as i32)
    } else {
        Err(ReadError::new(format!(
            "column `{m}` holds {value}, beyond any reading"
        )))
    }
}

thread_local! {
    /// Set while this thread runs parquet code behind [`guarded`], so the panic hook
    /// stays quiet for panics that become errors.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a call into the parquet crate), turning a panic into a [`ReadError`].
/// The last resort behind [`check_footer`]: it is only reached by damage the checks do
/// not foresee, inside pages.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, ReadError> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        ReadError::new(format!(
            "damaged file: the Parquet reader failed while {what} ({why})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_element_claiming_more_children_than_the_schema_holds_is_refused() {
        // FileMetaData { 2: [SchemaElement { 5: num_children }] } in thrift's compact
        // protocol: the parquet crate would allocate for the claimed count first.
        let footer = |children: &[u8]| {
            let mut b = vec![0x29, 0x1c, 0x55];
            b.extend_from_slice(children);
            b.extend_from_slice(&[0x00, 0x00]);
            b
        };
        // zigzag varints: 0 children fits; 1,000,000 (0x80 0x89 0x7a) does not.
        assert!(
            thrift::Reader::new(&footer(&[0x00]))
                .schema_counts_fit()
                .is_ok()
        );
        let e = thrift::Reader::new(&footer(&[0x80, 0x89, 0x7a]))
            .schema_counts_fit()
            .unwrap_err();
        assert!(e.contains("more children"), "{e}");
    }
    use lakenode::encode::WriterProfile;
    use lakenode::encode::{FileMetadata, encode_window};
    use lakenode::layout::StationId;
    use lakenode::schema::Schema;
    use lakenode::window::{Window, WindowSpec};

    fn file() -> (Vec<u8>, Vec<Sample>) {
        let schema = Schema::new([Measurement::Temperature, Measurement::Humidity]).unwrap();
        let spec = WindowSpec::new(5_000, 900_000).unwrap();
        let start = 1_795_000_000_000 / 900_000 * 900_000;
        let samples: Vec<Sample> = (0..180)
            .map(|i| {
                let mut s = Sample::new(start + i * 5_000);
                s.set_count(Measurement::Temperature, Some(2_000 + i as i32));
                s.set_count(Measurement::Humidity, Some(4_000));
                s
            })
            .collect();
        let window = Window {
            start_ms: start,
            end_ms: start + 900_000,
            samples: samples.clone(),
        };
        let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").unwrap();
        let meta = FileMetadata::new(&station, spec, &window);
        let bytes = encode_window(&schema, WriterProfile::Compat, &window, &meta).unwrap();
        (bytes, samples)
    }

    /// The column reader gives back exactly the samples written, nulls included, in
    /// every file layout lakenode writes: both profiles, one row group or several of
    /// odd sizes (a batch boundary inside a group), every measurement.
    #[test]
    fn the_column_reader_reads_back_every_layout_exactly() {
        let (window_file, window_samples) = file();
        let mut files = vec![(window_file, window_samples)];
        let all = Schema::new(Measurement::ALL).unwrap();
        let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").unwrap();
        let spec = WindowSpec::new(5_000, 900_000).unwrap();
        for profile in [WriterProfile::Compat, WriterProfile::Compact] {
            let start = 1_795_000_000_000 / 900_000 * 900_000;
            let samples: Vec<Sample> = (0..3_000)
                .map(|i| {
                    let mut s = Sample::new(start + i * 5_000);
                    for (k, m) in Measurement::ALL.iter().enumerate() {
                        // Nulls at a different rhythm in each column.
                        let v =
                            (i % (k as i64 + 2) != 0).then_some((i as i32 * 7 + k as i32) % 3_000);
                        s.set_count(*m, v);
                    }
                    s
                })
                .collect();
            let window = Window {
                start_ms: start,
                end_ms: start + 3_000 * 5_000,
                samples: samples.clone(),
            };
            let meta = FileMetadata::new(&station, spec, &window);
            files.push((
                encode_window(&all, profile, &window, &meta).unwrap(),
                samples.clone(),
            ));
            // Several row groups of odd sizes (a batch boundary inside a group).
            let encoder = lakenode::encode::Encoder::new(&all, profile).unwrap();
            let mut stream = encoder.stream(Vec::new(), Some(&meta)).unwrap();
            for chunk in samples.chunks(1_500) {
                stream.write_row_group(chunk).unwrap();
            }
            files.push((stream.finish().unwrap(), samples));
        }
        for (bytes, written) in files {
            let file = open(bytes).unwrap();
            let mut by_columns = Vec::new();
            let mut batches = 0;
            let n = file
                .for_each_batch(|b| {
                    assert!(!b.is_empty() && b.len() <= 1024);
                    batches += 1;
                    by_columns.extend_from_slice(b);
                })
                .unwrap();
            assert_eq!(n as usize, written.len());
            assert!(batches >= written.len().div_ceil(1024));
            assert_eq!(by_columns, written);
        }
    }

    fn decode_columns(file: &LakeFile) -> Result<Vec<Sample>, ReadError> {
        let mut all = Vec::new();
        file.for_each_batch(|b| all.extend_from_slice(b))?;
        Ok(all)
    }

    /// Where the Thrift footer starts.
    fn footer_start(bytes: &[u8]) -> usize {
        let n = bytes.len();
        n - 8 - u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize
    }

    #[test]
    fn a_good_file_reads_back_exactly() {
        let (bytes, samples) = file();
        let decoded = decode(bytes).unwrap();
        assert_eq!(decoded.samples, samples);
        assert_eq!(decoded.columns.len(), 2);
    }

    /// Issue 11, item 1: every single-byte change of the footer (each of 3 values at
    /// every position) and every truncation ends in a result or an error, never a
    /// panic (the test would fail by panicking) or an allocation from a damaged count.
    #[test]
    fn every_footer_byte_changed_gives_an_error_or_a_result_never_a_panic() {
        let (bytes, _) = file();
        let start = footer_start(&bytes);
        let mut errors = 0;
        for at in start..bytes.len() {
            for v in [0x00, 0xff, bytes[at] ^ 0x5a] {
                let mut damaged = bytes.clone();
                damaged[at] = v;
                match decode(damaged.clone()) {
                    Err(_) => errors += 1,
                    // What decodes holds the rows the footer declares, and decodes
                    // the same way again.
                    Ok(decoded) => {
                        let file = open(damaged).unwrap();
                        assert_eq!(decoded.samples.len() as u64, file.rows(), "byte {at} = {v}");
                        assert_eq!(
                            decode_columns(&file).ok(),
                            Some(decoded.samples),
                            "byte {at} = {v}"
                        );
                    }
                }
            }
        }
        assert!(errors > 0, "no mutation was detected");
        for len in 0..bytes.len() {
            assert!(decode(bytes[..len].to_vec()).is_err(), "truncated to {len}");
        }
    }

    /// Finds the Thrift field holding `value` as a zigzag varint i64 in the footer: the
    /// file's `num_rows` (180) is the first such field after the schema.
    fn set_num_rows(bytes: &[u8], rows: i64) -> Vec<u8> {
        let fmd_rows = 180_i64;
        let zig = |v: i64| -> Vec<u8> {
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            let mut out = Vec::new();
            loop {
                let b = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    out.push(b);
                    return out;
                }
                out.push(b | 0x80);
            }
        };
        let start = footer_start(bytes);
        let old = zig(fmd_rows);
        let footer = &bytes[start..bytes.len() - 8];
        // Every occurrence: the file's and each row group's row count.
        let mut out = bytes[..start].to_vec();
        let mut i = 0;
        let mut replaced = 0;
        while i < footer.len() {
            if footer[i..].starts_with(&old) && i > 0 && footer[i - 1] & 0x0f == 0x06 {
                out.extend(zig(rows));
                i += old.len();
                replaced += 1;
            } else {
                out.push(footer[i]);
                i += 1;
            }
        }
        assert!(replaced > 0, "num_rows not found");
        let len = u32::try_from(out.len() - start).unwrap();
        out.extend(len.to_le_bytes());
        out.extend(b"PAR1");
        out
    }

    /// Issue 11, item 1: a footer claiming 2^28 rows used to make the read-back ask for
    /// 21 GB (SIGABRT) and 2^61 overflowed the capacity (panic); both are refused.
    #[test]
    fn a_huge_row_count_is_refused_before_anything_is_allocated() {
        let (bytes, _) = file();
        for rows in [1_i64 << 28, 1 << 61, i64::MAX, -1] {
            let damaged = set_num_rows(&bytes, rows);
            let err = decode(damaged).unwrap_err().to_string();
            assert!(err.contains("row"), "{rows}: {err}");
        }
        // One row more than the pages hold: plausible, so found while decoding.
        assert!(decode(set_num_rows(&bytes, 181)).is_err());
    }

    #[test]
    fn a_negative_column_offset_is_an_error_not_the_parquet_crates_assert() {
        let (bytes, _) = file();
        let md = open(bytes.clone()).unwrap();
        let data_offset = md.metadata().row_group(0).column(0).data_page_offset();
        assert_eq!(data_offset, 4);
        // Thrift writes data_page_offset (field 9, i64) as zigzag 4 = 0x08.
        let start = footer_start(&bytes);
        let mut hit = false;
        for at in start..bytes.len() - 9 {
            if bytes[at] == 0x08 && bytes[at - 1] & 0x0f == 0x06 {
                let mut damaged = bytes.clone();
                damaged[at] = 0x07; // zigzag -4
                if let Err(e) = decode(damaged) {
                    hit |= e.to_string().contains("outside the file");
                }
            }
        }
        assert!(hit, "no negative offset was reported as out of range");
    }

    /// Found by the `parquet_readback` fuzz target: a page header holding an unknown
    /// field with a list of 2^31 doubles kept the parquet crate's Thrift reader busy for
    /// 5 s per column chunk (it skips past the end of its input without noticing).
    #[test]
    fn a_page_header_claiming_a_huge_list_is_refused_at_once() {
        let (bytes, _) = file();
        // The first page header starts at byte 4. Insert an unknown field 9 (a list,
        // type 9) of 2^31-1 doubles (element type 7) right after its first field.
        let mut thrift = thrift::Reader::new(&bytes[4..]);
        assert!(thrift.page_header().is_ok());
        // Field 1 (type i32, delta 1) is `15 varint`: 2 bytes: header 0x15 + value.
        let mut damaged = bytes[..6].to_vec();
        damaged.extend([0x89, 0xf7, 0xff, 0xff, 0xff, 0x07]); // field +8 = 9, list, size
        damaged.extend(&bytes[6..]);
        let started = std::time::Instant::now();
        let err = decode(damaged).unwrap_err().to_string();
        assert!(err.contains("damaged page header at byte 4"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_panic_inside_the_reader_becomes_an_error_and_leaves_the_hook_working() {
        let err = guarded("testing", || panic!("boom")).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert!(!GUARDED.with(Cell::get));
    }
}
