//! Columns spilled to temporary files, so a CSV of any length becomes one Parquet row
//! group in constant memory.
//!
//! Why: Parquet writes a row group column after column, so a writer must hold the whole
//! row group or read its input once per column. Holding it costs memory in proportion to
//! the rows; cutting the file into small row groups does too, because the writer keeps
//! every row group's metadata until the footer (measured with `lakenode encode` on a
//! million rows: 2,048-row groups peaked at 3.6 MB, 512-row groups at 13.4 MB). Here each
//! column goes to its own file as fixed-width little-endian values while the CSV is read
//! once, then is read back sequentially by the encoder ([`ColumnSource`]).
//!
//! ```no_run
//! use lakenode_cli::spill::ColumnSpill;
//! use lakenode::schema::Schema;
//! let mut spill = ColumnSpill::new(std::path::Path::new("."), &Schema::default())?;
//! spill.push(&lakenode::sample::Sample::new(1_767_225_600_000))?;
//! assert_eq!(spill.rows(), 1);
//! # Ok::<(), lakenode_cli::error::CliError>(())
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use lakenode::encode::ColumnSource;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, Schema};

use crate::error::{CliError, CliResult};

/// The count stored for a missing reading (no sensor range reaches it).
const NULL: i32 = i32::MIN;

/// One spilled column: written through a buffer, then read back through one.
struct Column {
    writer: Option<BufWriter<File>>,
    reader: Option<BufReader<File>>,
}

impl Column {
    fn new(dir: &Path, name: &str) -> CliResult<Self> {
        let path = dir.join(name);
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| CliError::io(&path, e))?;
        Ok(Self {
            writer: Some(BufWriter::with_capacity(16 * 1024, file)),
            reader: None,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.writer {
            Some(w) => w.write_all(bytes),
            None => Err(std::io::Error::other("column already being read")),
        }
    }

    /// Switches to reading from the first value.
    fn rewind(&mut self) -> std::io::Result<()> {
        if let Some(w) = self.writer.take() {
            let file = w
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)?;
            self.reader = Some(BufReader::with_capacity(16 * 1024, file));
        }
        match &mut self.reader {
            Some(r) => r.seek(SeekFrom::Start(0)).map(drop),
            None => Err(std::io::Error::other("column lost")),
        }
    }

    /// Reads up to `n` values of `width` bytes into `buf`; the bytes read.
    fn read(&mut self, buf: &mut Vec<u8>, n: usize, width: usize) -> std::io::Result<usize> {
        buf.resize(n * width, 0);
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| std::io::Error::other("column not rewound"))?;
        let mut filled = 0;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..])? {
                0 => break,
                k => filled += k,
            }
        }
        if filled % width != 0 {
            return Err(std::io::Error::other("spilled column truncated"));
        }
        Ok(filled)
    }
}

/// Samples spilled column by column into a temporary directory, removed when dropped.
pub struct ColumnSpill {
    dir: tempfile::TempDir,
    timestamps: Column,
    counts: Vec<(Measurement, Column)>,
    rows: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for ColumnSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnSpill")
            .field("dir", &self.dir.path())
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ColumnSpill {
    /// A new spill for `schema`'s columns in a hidden temporary directory under `near`
    /// (beside the output, so it uses that filesystem's space, not memory).
    ///
    /// # Errors
    /// [`CliError::Io`] if the directory or files cannot be created.
    pub fn new(near: &Path, schema: &Schema) -> CliResult<Self> {
        // Named with our pid, so a later run can remove what a killed one left.
        lakenode_lake::output::remove_stale(near, ".lakenode-spill-", "-");
        let dir = tempfile::Builder::new()
            .prefix(&format!(".lakenode-spill-{}-", std::process::id()))
            .tempdir_in(near)
            .map_err(|e| CliError::io(near, e))?;
        let timestamps = Column::new(dir.path(), "timestamp")?;
        let counts = schema
            .columns()
            .iter()
            .map(|&m| Column::new(dir.path(), m.name()).map(|c| (m, c)))
            .collect::<CliResult<_>>()?;
        Ok(Self {
            dir,
            timestamps,
            counts,
            rows: 0,
            buf: Vec::new(),
        })
    }

    /// Appends a sample.
    ///
    /// # Errors
    /// [`CliError::Io`] if the disk is full or failing.
    pub fn push(&mut self, sample: &Sample) -> CliResult<()> {
        let err = |e| CliError::io(self.dir.path(), e);
        self.timestamps
            .write(&sample.timestamp_ms.to_le_bytes())
            .map_err(err)?;
        for (m, column) in &mut self.counts {
            let c = sample.count(*m).unwrap_or(NULL);
            column
                .write(&c.to_le_bytes())
                .map_err(|e| CliError::io(self.dir.path(), e))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Samples pushed.
    #[must_use]
    pub const fn rows(&self) -> u64 {
        self.rows
    }
}

fn io(e: std::io::Error) -> lakenode::Error {
    lakenode::Error::Parquet(parquet::errors::ParquetError::External(Box::new(e)))
}

impl ColumnSource for ColumnSpill {
    fn start_timestamps(&mut self) -> lakenode::Result<()> {
        self.timestamps.rewind().map_err(io)
    }

    fn read_timestamps(&mut self, out: &mut Vec<i64>, max: usize) -> lakenode::Result<()> {
        let n = self.timestamps.read(&mut self.buf, max, 8).map_err(io)?;
        out.extend(
            self.buf[..n]
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        );
        Ok(())
    }

    fn start_counts(&mut self, m: Measurement) -> lakenode::Result<()> {
        match self.counts.iter_mut().find(|(c, _)| *c == m) {
            Some((_, column)) => column.rewind().map_err(io),
            None => Err(io(std::io::Error::other(format!("no spilled column {m}")))),
        }
    }

    fn read_counts(
        &mut self,
        m: Measurement,
        out: &mut Vec<Option<i32>>,
        max: usize,
    ) -> lakenode::Result<()> {
        let Some((_, column)) = self.counts.iter_mut().find(|(c, _)| *c == m) else {
            return Err(io(std::io::Error::other(format!("no spilled column {m}"))));
        };
        let n = column.read(&mut self.buf, max, 4).map_err(io)?;
        out.extend(self.buf[..n].chunks_exact(4).map(|b| {
            let c = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (c != NULL).then_some(c)
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakenode::encode::{Encoder, WriterProfile};

    #[test]
    fn a_spilled_row_group_encodes_the_same_rows_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new([Measurement::Temperature, Measurement::Pm25]).unwrap();
        let samples: Vec<Sample> = (0..5_000)
            .map(|i| {
                let mut s = Sample::new(1_767_225_600_000 + i * 5_000);
                s.set_count(Measurement::Temperature, Some(2_000 + (i % 300) as i32));
                if i % 7 != 0 {
                    s.set_count(Measurement::Pm25, Some((i % 50) as i32));
                }
                s
            })
            .collect();
        let mut spill = ColumnSpill::new(dir.path(), &schema).unwrap();
        for s in &samples {
            spill.push(s).unwrap();
        }
        for profile in [WriterProfile::Compat, WriterProfile::Compact] {
            let encoder = Encoder::new(&schema, profile).unwrap();
            let mut stream = encoder.stream(Vec::new(), None).unwrap();
            stream.write_row_group_from(&mut spill).unwrap();
            let spilled = stream.finish().unwrap();
            let in_memory = encoder.encode_to(&samples, None, Vec::new()).unwrap();
            assert_eq!(spilled, in_memory, "{profile:?}");
        }
        let spill_dir = spill.dir.path().to_path_buf();
        drop(spill);
        assert!(!spill_dir.exists(), "the spill is removed when dropped");
    }
}
