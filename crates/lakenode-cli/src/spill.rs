//! A CSV's columns for one Parquet row group: held in memory while they are small, spilled
//! to temporary files past [`SPILL_THRESHOLD_BYTES`], so a CSV of any length is written in
//! bounded memory and a small one touches no disk.
//!
//! Why: Parquet writes a row group column after column, so a writer must hold the whole
//! row group or read its input once per column. Holding it costs memory in proportion to
//! the rows; cutting the file into small row groups does too, because the writer keeps
//! every row group's metadata until the footer (measured with `lakenode encode` on a
//! million rows: 2,048-row groups peaked at 3.6 MB, 512-row groups at 13.4 MB). Here each
//! column is kept as fixed-width little-endian values while the CSV is read once, then is
//! read back sequentially by the encoder ([`ColumnSource`]).
//!
//! Up to the threshold the values stay in memory: a 15-minute window (178 rows, 7.1 KB
//! in nine columns) creates no file. Past it, a hidden directory beside the output gets
//! one file per column, and the in-memory chunk becomes the write buffer, appended to the
//! files whole each time it fills. Before (2026-11-27 to 2026-12-03) every column was
//! spilled, each with 16 KiB write and read buffers: 144 KiB for nine columns however
//! small the CSV, which made `encode` of 178 rows peak at about 260 KB instead of 95 KB.
//!
//! ```no_run
//! use lakenode_cli::spill::ColumnSpill;
//! use lakenode::schema::Schema;
//! let mut spill = ColumnSpill::new(std::path::Path::new("."), &Schema::default());
//! spill.push(&lakenode::sample::Sample::new(1_767_225_600_000))?;
//! assert_eq!(spill.rows(), 1);
//! assert!(spill.spill_dir().is_none(), "one row stays in memory");
//! # Ok::<(), lakenode_cli::error::CliError>(())
//! ```

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use lakenode::encode::ColumnSource;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, Schema};

use crate::error::{CliError, CliResult};

/// Bytes of column values (all columns together, 8 per timestamp and 4 per reading)
/// held in memory: up to it nothing is written to disk; past it the columns go to
/// files, and this is the size of their shared write buffer. 32 KiB keeps an hour at
/// 5 s in memory (720 rows of all nine columns are 28,800 bytes) and spills a day
/// (17,280 rows); `encode` of a spilled CSV of any length peaks at about 145 KB of
/// process heap (2026-12-03), the encoder's 1,024-row batches included.
pub const SPILL_THRESHOLD_BYTES: usize = 32 * 1024;

/// The count stored for a missing reading (no sensor range reaches it).
const NULL: i32 = i32::MIN;

/// One column: values in memory, then (once spilled) in a file with the latest values
/// still in memory until the chunk fills.
struct Column {
    /// Bytes per value.
    width: usize,
    /// Values not in the file yet (all of them while nothing is spilled).
    chunk: Vec<u8>,
    file: Option<File>,
    /// Bytes of `chunk` read back (when there is no file).
    read_pos: usize,
}

impl Column {
    const fn new(width: usize) -> Self {
        Self {
            width,
            chunk: Vec::new(),
            file: None,
            read_pos: 0,
        }
    }

    /// Appends one value, growing the chunk by doubling up to `max_bytes` (never past:
    /// the caller spills a full chunk before pushing more).
    fn push(&mut self, value: &[u8], max_bytes: usize) {
        if self.chunk.len() == self.chunk.capacity() {
            let want = (self.chunk.capacity() * 2)
                .max(16 * self.width)
                .min(max_bytes);
            self.chunk
                .reserve_exact(want.saturating_sub(self.chunk.len()));
        }
        self.chunk.extend_from_slice(value);
    }

    /// Appends the chunk to the column's file in `dir` (created on the first call) and
    /// empties it, keeping its memory for the next values unless `release`.
    fn spill(&mut self, dir: &Path, name: &str, release: bool) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(dir.join(name))?,
            ),
        };
        file.write_all(&self.chunk)?;
        self.chunk.clear();
        if release {
            self.chunk = Vec::new();
        }
        Ok(())
    }

    /// Switches to reading from the first value.
    fn rewind(&mut self) -> std::io::Result<()> {
        self.read_pos = 0;
        match &mut self.file {
            Some(f) => f.seek(SeekFrom::Start(0)).map(drop),
            None => Ok(()),
        }
    }

    /// Reads up to `n` next values: from the file into `buf`, or straight from memory.
    fn read<'a>(&'a mut self, buf: &'a mut Vec<u8>, n: usize) -> std::io::Result<&'a [u8]> {
        let want = n * self.width;
        let Some(file) = &mut self.file else {
            let start = self.read_pos.min(self.chunk.len());
            let end = (start + want).min(self.chunk.len());
            self.read_pos = end;
            return Ok(&self.chunk[start..end]);
        };
        buf.resize(want, 0);
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..])? {
                0 => break,
                k => filled += k,
            }
        }
        if filled % self.width != 0 {
            return Err(std::io::Error::other("spilled column truncated"));
        }
        Ok(&buf[..filled])
    }
}

/// Samples kept column by column, in memory up to [`SPILL_THRESHOLD_BYTES`] and past it
/// in a temporary directory that is removed when this is dropped.
pub struct ColumnSpill {
    near: PathBuf,
    dir: Option<tempfile::TempDir>,
    timestamps: Column,
    counts: Vec<(Measurement, Column)>,
    rows: u64,
    /// Rows per chunk: [`SPILL_THRESHOLD_BYTES`] over the bytes of one row.
    chunk_rows: usize,
    /// Rows in the chunks now.
    chunk_len: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for ColumnSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnSpill")
            .field("dir", &self.spill_dir())
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ColumnSpill {
    /// An empty set of `schema`'s columns, in memory; once past the threshold spilled to
    /// a hidden temporary directory under `near` (beside the output, so it uses that
    /// filesystem's space, not memory).
    #[must_use]
    pub fn new(near: &Path, schema: &Schema) -> Self {
        Self::with_threshold(near, schema, SPILL_THRESHOLD_BYTES)
    }

    /// As [`ColumnSpill::new`], spilling past `threshold_bytes` instead (at least one
    /// row per chunk).
    #[must_use]
    pub fn with_threshold(near: &Path, schema: &Schema, threshold_bytes: usize) -> Self {
        let row_bytes = 8 + 4 * schema.columns().len();
        Self {
            near: near.to_path_buf(),
            dir: None,
            timestamps: Column::new(8),
            counts: schema
                .columns()
                .iter()
                .map(|&m| (m, Column::new(4)))
                .collect(),
            rows: 0,
            chunk_rows: (threshold_bytes / row_bytes).max(1),
            chunk_len: 0,
            buf: Vec::new(),
        }
    }

    /// Appends a sample; spills the columns when their chunks are full.
    ///
    /// # Errors
    /// [`CliError::Io`] if the spill directory cannot be created or the disk is full or
    /// failing.
    pub fn push(&mut self, sample: &Sample) -> CliResult<()> {
        if self.chunk_len == self.chunk_rows {
            self.spill(false)?;
        }
        self.timestamps
            .push(&sample.timestamp_ms.to_le_bytes(), self.chunk_rows * 8);
        for (m, column) in &mut self.counts {
            let c = sample.count(*m).unwrap_or(NULL);
            column.push(&c.to_le_bytes(), self.chunk_rows * 4);
        }
        self.chunk_len += 1;
        self.rows += 1;
        Ok(())
    }

    /// Samples pushed.
    #[must_use]
    pub const fn rows(&self) -> u64 {
        self.rows
    }

    /// Ends the input: once spilled, the columns' last values join their files and the
    /// chunks' memory is freed before the encoder takes its own (reading starts with
    /// this too). In memory, nothing changes.
    ///
    /// # Errors
    /// [`CliError::Io`] if the disk is full or failing.
    pub fn finish(&mut self) -> CliResult<()> {
        if self.dir.is_some() {
            self.spill(true)?;
        }
        Ok(())
    }

    /// The temporary directory, once the columns have been spilled.
    #[must_use]
    pub fn spill_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Appends every column's chunk to its file, creating the directory first.
    /// `release` frees the chunks' memory (when reading starts).
    fn spill(&mut self, release: bool) -> CliResult<()> {
        let dir = match &self.dir {
            Some(d) => d.path(),
            None => {
                // Named with our pid, so a later run can remove what a killed one left.
                lakenode_lake::output::remove_stale(&self.near, ".lakenode-spill-", "-");
                let dir = tempfile::Builder::new()
                    .prefix(&format!(".lakenode-spill-{}-", std::process::id()))
                    .tempdir_in(&self.near)
                    .map_err(|e| CliError::io(&self.near, e))?;
                tracing::debug!(
                    "{} rows: columns spilled to {}",
                    self.rows,
                    dir.path().display()
                );
                self.dir.insert(dir).path()
            }
        };
        let err = |e| CliError::io(dir, e);
        self.timestamps
            .spill(dir, "timestamp", release)
            .map_err(err)?;
        for (m, column) in &mut self.counts {
            column.spill(dir, m.name(), release).map_err(err)?;
        }
        self.chunk_len = 0;
        Ok(())
    }
}

/// The column of `m`.
fn column(counts: &mut [(Measurement, Column)], m: Measurement) -> lakenode::Result<&mut Column> {
    counts
        .iter_mut()
        .find(|(c, _)| *c == m)
        .map(|(_, column)| column)
        .ok_or_else(|| io(std::io::Error::other(format!("no column {m}"))))
}

fn io(e: std::io::Error) -> lakenode::Error {
    external(Box::new(e))
}

/// A spill failure as the encoder's error (its source kept, path included).
fn external(e: Box<dyn std::error::Error + Send + Sync>) -> lakenode::Error {
    lakenode::Error::Parquet(parquet::errors::ParquetError::External(e))
}

impl ColumnSource for ColumnSpill {
    fn start_timestamps(&mut self) -> lakenode::Result<()> {
        self.finish().map_err(|e| external(Box::new(e)))?;
        self.timestamps.rewind().map_err(io)
    }

    fn read_timestamps(&mut self, out: &mut Vec<i64>, max: usize) -> lakenode::Result<()> {
        let bytes = self.timestamps.read(&mut self.buf, max).map_err(io)?;
        out.extend(
            bytes
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        );
        Ok(())
    }

    fn start_counts(&mut self, m: Measurement) -> lakenode::Result<()> {
        self.finish().map_err(|e| external(Box::new(e)))?;
        column(&mut self.counts, m)?.rewind().map_err(io)
    }

    fn read_counts(
        &mut self,
        m: Measurement,
        out: &mut Vec<Option<i32>>,
        max: usize,
    ) -> lakenode::Result<()> {
        let bytes = column(&mut self.counts, m)?
            .read(&mut self.buf, max)
            .map_err(io)?;
        out.extend(bytes.chunks_exact(4).map(|b| {
            let c = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (c != NULL).then_some(c)
        }));
        Ok(())
    }

    fn rows(&self) -> Option<usize> {
        usize::try_from(self.rows).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakenode::encode::{Encoder, WriterProfile};

    fn samples(n: i64) -> Vec<Sample> {
        (0..n)
            .map(|i| {
                let mut s = Sample::new(1_767_225_600_000 + i * 5_000);
                s.set_count(Measurement::Temperature, Some(2_000 + (i % 300) as i32));
                if i % 7 != 0 {
                    s.set_count(Measurement::Pm25, Some((i % 50) as i32));
                }
                s
            })
            .collect()
    }

    /// Encodes `samples` through `spill` in both profiles and checks the files are those
    /// encoded from memory.
    fn assert_encodes_as_in_memory(schema: &Schema, spill: &mut ColumnSpill, samples: &[Sample]) {
        for profile in [WriterProfile::Compat, WriterProfile::Compact] {
            let encoder = Encoder::new(schema, profile).unwrap();
            let mut stream = encoder.stream(Vec::new(), None).unwrap();
            stream.write_row_group_from(spill).unwrap();
            let from_spill = stream.finish().unwrap();
            let in_memory = encoder.encode_to(samples, None, Vec::new()).unwrap();
            assert_eq!(from_spill, in_memory, "{profile:?}");
        }
    }

    fn entries(dir: &Path) -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_small_input_stays_in_memory_and_creates_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::default();
        let samples = samples(178);
        let mut spill = ColumnSpill::new(dir.path(), &schema);
        for s in &samples {
            spill.push(s).unwrap();
        }
        assert_encodes_as_in_memory(&schema, &mut spill, &samples);
        assert!(spill.spill_dir().is_none());
        assert!(
            entries(dir.path()).is_empty(),
            "nothing written beside the output"
        );
        // 178 rows of nine columns: 7,120 bytes of values, in chunks grown by doubling.
        let held: usize = std::iter::once(&spill.timestamps)
            .chain(spill.counts.iter().map(|(_, c)| c))
            .map(|c| c.chunk.capacity())
            .sum();
        assert!(held <= 2 * 178 * 40, "{held} bytes held for 7,120");
    }

    #[test]
    fn past_the_threshold_the_columns_are_spilled_and_encode_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new([Measurement::Temperature, Measurement::Pm25]).unwrap();
        // 16 bytes a row: 2,048 rows fill the 32 KiB in memory.
        let samples = samples(5_000);
        let mut spill = ColumnSpill::new(dir.path(), &schema);
        for (i, s) in samples.iter().enumerate() {
            spill.push(s).unwrap();
            assert_eq!(spill.spill_dir().is_some(), i >= 2_048, "row {i}");
        }
        let spill_dir = spill.spill_dir().unwrap().to_path_buf();
        assert_encodes_as_in_memory(&schema, &mut spill, &samples);
        // Everything is in the files once read; the chunks' memory is freed.
        assert_eq!(
            std::fs::metadata(spill_dir.join("timestamp"))
                .unwrap()
                .len(),
            5_000 * 8
        );
        assert_eq!(spill.timestamps.chunk.capacity(), 0);
        drop(spill);
        assert!(!spill_dir.exists(), "the spill is removed when dropped");
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn chunk_boundaries_lose_no_row() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new([Measurement::Temperature, Measurement::Pm25]).unwrap();
        // 7 rows a chunk: row counts at, around and far past the chunk's.
        for n in [1, 6, 7, 8, 14, 15, 1_000] {
            let samples = samples(n);
            let mut spill = ColumnSpill::with_threshold(dir.path(), &schema, 7 * 16 + 15);
            for s in &samples {
                spill.push(s).unwrap();
            }
            assert_eq!(spill.spill_dir().is_some(), n > 7, "{n} rows");
            assert_encodes_as_in_memory(&schema, &mut spill, &samples);
        }
        assert!(entries(dir.path()).is_empty());
    }
}
