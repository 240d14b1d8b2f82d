//! `lakenode bench`: what the encoder costs, measured against the seed's settings in the
//! same run. Prints, per workload and writer: file bytes, footer bytes, encoder peak
//! heap (counting allocator), allocations and median encode time, each with its ratio
//! to the seed's settings.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakenode::encode::{ColumnLayout, Encoder, FileMetadata, WriterProfile};
use lakenode::layout::StationId;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, Schema};
use lakenode::sim::Simulator;
use lakenode::window::{Window, WindowSpec};
use parquet::basic::{Compression, Encoding, Repetition, Type as PhysicalType};
use parquet::data_type::{FloatType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::BenchArgs;
use crate::error::{CliError, CliResult};
use crate::heap;

/// 2026-01-01T00:00:00Z.
const START_MS: i64 = 1_767_225_600_000;

/// One measured encode.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// File size.
    pub bytes: u64,
    /// Footer size (Thrift metadata plus the 8-byte trailer).
    pub footer: u64,
    /// Peak heap above the level before the call.
    pub peak_heap: usize,
    /// Allocations during the call.
    pub allocations: usize,
    /// Median wall time of one encode.
    pub time: Duration,
}

/// A sink that only counts bytes and keeps the last eight (for the footer length), so
/// the output itself costs no heap.
#[derive(Debug, Default)]
struct CountingSink {
    bytes: u64,
    tail: [u8; 8],
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        if buf.len() >= 8 {
            self.tail.copy_from_slice(&buf[buf.len() - 8..]);
        } else {
            self.tail.rotate_left(buf.len());
            self.tail[8 - buf.len()..].copy_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CountingSink {
    fn footer(&self) -> u64 {
        u64::from(u32::from_le_bytes([
            self.tail[0],
            self.tail[1],
            self.tail[2],
            self.tail[3],
        ])) + 8
    }
}

/// The writers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The seed's settings: raw (unquantized) f32 values, PLAIN, Snappy, no dictionary.
    Seed,
    /// parquet-rs defaults plus Snappy, quantized f32 values.
    Defaults,
    /// Our `compat` profile.
    Compat,
    /// Our `compact` profile.
    Compact,
}

impl Writer {
    const ALL: [Self; 4] = [Self::Seed, Self::Defaults, Self::Compat, Self::Compact];

    fn name(self) -> &'static str {
        match self {
            Self::Seed => "(a) seed: raw f32, PLAIN, SNAPPY",
            Self::Defaults => "(b) parquet-rs defaults + SNAPPY",
            Self::Compat => "(c) compat profile",
            Self::Compact => "(c) compact profile",
        }
    }
}

/// A writer prepared once (schema and settings), as a node does at start, so the
/// timings compare the per-window work of each setting.
enum Prepared {
    Seed(SeedEncoder),
    Ours(Encoder),
}

impl Prepared {
    fn new(writer: Writer, schema: &Schema) -> CliResult<Self> {
        Ok(match writer {
            Writer::Seed => Self::Seed(SeedEncoder::new()?),
            Writer::Defaults => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                Self::Ours(Encoder::with_properties(
                    schema,
                    ColumnLayout::Float,
                    props,
                )?)
            }
            Writer::Compat => Self::Ours(Encoder::new(schema, WriterProfile::Compat)?),
            Writer::Compact => Self::Ours(Encoder::new(schema, WriterProfile::Compact)?),
        })
    }

    fn encode<W: Write + Send>(
        &self,
        samples: &[Sample],
        raw: &[[f32; 9]],
        meta: &FileMetadata,
        sink: W,
    ) -> CliResult<W> {
        match self {
            Self::Seed(e) => e.encode(samples, raw, sink),
            // Every node file carries the footer metadata.
            Self::Ours(e) => Ok(e.encode_to(samples, Some(meta), sink)?),
        }
    }
}

/// What the seed wrote: every reading as the f32 the sensor driver returned, PLAIN
/// encoded, Snappy, no dictionary, no nulls.
struct SeedEncoder {
    schema: Arc<Type>,
    props: Arc<WriterProperties>,
}

impl SeedEncoder {
    fn new() -> CliResult<Self> {
        let p = |e: parquet::errors::ParquetError| CliError::Core(e.into());
        let mut fields = vec![Arc::new(
            Type::primitive_type_builder("timestamp", PhysicalType::INT64)
                .with_repetition(Repetition::REQUIRED)
                .build()
                .map_err(p)?,
        )];
        for m in Measurement::ALL {
            fields.push(Arc::new(
                Type::primitive_type_builder(m.name(), PhysicalType::FLOAT)
                    .with_repetition(Repetition::REQUIRED)
                    .build()
                    .map_err(p)?,
            ));
        }
        let schema = Arc::new(
            Type::group_type_builder("seed")
                .with_fields(fields)
                .build()
                .map_err(p)?,
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_encoding(Encoding::PLAIN)
            .build();
        Ok(Self {
            schema,
            props: Arc::new(props),
        })
    }

    fn encode<W: Write + Send>(
        &self,
        samples: &[Sample],
        raw: &[[f32; 9]],
        sink: W,
    ) -> CliResult<W> {
        let p = |e: parquet::errors::ParquetError| CliError::Core(e.into());
        let mut writer =
            SerializedFileWriter::new(sink, Arc::clone(&self.schema), Arc::clone(&self.props))
                .map_err(p)?;
        let mut rg = writer.next_row_group().map_err(p)?;
        let ts: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
        let mut col = rg
            .next_column()
            .map_err(p)?
            .ok_or_else(|| CliError::Usage("schema".into()))?;
        col.typed::<Int64Type>()
            .write_batch(&ts, None, None)
            .map_err(p)?;
        col.close().map_err(p)?;
        for i in 0..Measurement::COUNT {
            let values: Vec<f32> = raw.iter().map(|r| r[i]).collect();
            let mut col = rg
                .next_column()
                .map_err(p)?
                .ok_or_else(|| CliError::Usage("schema".into()))?;
            col.typed::<FloatType>()
                .write_batch(&values, None, None)
                .map_err(p)?;
            col.close().map_err(p)?;
        }
        rg.close().map_err(p)?;
        writer.into_inner().map_err(p)
    }
}

/// Measures one writer on one workload.
///
/// # Errors
/// If encoding fails.
pub fn measure(writer: Writer, rows: usize, repeat: usize) -> CliResult<Measured> {
    let sim = Simulator::new(42);
    let schema = Schema::default();
    let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
    let samples: Vec<Sample> = (0..rows as i64)
        .map(|i| sim.sample_at(START_MS + i * 5_000))
        .collect();
    #[allow(clippy::cast_possible_truncation)]
    let raw: Vec<[f32; 9]> = samples
        .iter()
        .map(|s| sim.raw_values(s.timestamp_ms).map(|v| v as f32))
        .collect();

    let window = Window {
        start_ms: START_MS,
        end_ms: START_MS + 900_000,
        samples: Vec::new(),
    };
    let meta = FileMetadata::new(&station, WindowSpec::default(), &window);
    let prepared = Prepared::new(writer, &schema)?;

    // Memory: one encode, counted from the level before it.
    heap::reset_peak();
    let before = heap::stats();
    let sink = prepared.encode(&samples, &raw, &meta, CountingSink::default())?;
    let after = heap::stats();
    let peak_heap = after.peak.saturating_sub(before.current);
    let allocations = after.allocations - before.allocations;

    // Time: median of `repeat` encodes.
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let s = prepared.encode(&samples, &raw, &meta, CountingSink::default())?;
        times.push(t.elapsed());
        std::hint::black_box(s.bytes);
    }
    times.sort_unstable();
    Ok(Measured {
        bytes: sink.bytes,
        footer: sink.footer(),
        peak_heap,
        allocations,
        time: times[times.len() / 2],
    })
}

/// Runs `lakenode bench`.
///
/// # Errors
/// If encoding fails, or the counting allocator is not installed.
pub fn run(args: &BenchArgs) -> CliResult<()> {
    if !heap::is_counting() {
        return Err(CliError::Usage(
            "the counting allocator is not installed in this binary".into(),
        ));
    }
    println!(
        "lakenode encoder benchmark: {} measurement columns + timestamp, simulator seed 42",
        Measurement::COUNT
    );
    println!(
        "peak heap: bytes live during one encode above the level before it (output to a counting sink)"
    );
    println!("time: median of repeated encodes; ratios are to (a) in this same run\n");
    for &rows in &args.rows {
        let repeat = (args.budget_rows / rows.max(1)).clamp(3, 500);
        println!("{rows} rows ({repeat} timed repetitions)");
        println!(
            "  {:<34} {:>8} {:>6} {:>7} {:>10} {:>6} {:>7} {:>10} {:>6}",
            "writer", "bytes", "ratio", "footer", "peak heap", "ratio", "allocs", "time", "ratio"
        );
        let base = measure(Writer::Seed, rows, repeat)?;
        for w in Writer::ALL {
            let m = if w == Writer::Seed {
                base
            } else {
                measure(w, rows, repeat)?
            };
            #[allow(clippy::cast_precision_loss)]
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            println!(
                "  {:<34} {:>8} {:>6.2} {:>7} {:>10} {:>6.2} {:>7} {:>8.1}us {:>6.2}",
                w.name(),
                m.bytes,
                ratio(m.bytes as f64, base.bytes as f64),
                m.footer,
                m.peak_heap,
                ratio(m.peak_heap as f64, base.peak_heap as f64),
                m.allocations,
                m.time.as_secs_f64() * 1e6,
                ratio(m.time.as_secs_f64(), base.time.as_secs_f64()),
            );
        }
        println!();
    }
    Ok(())
}
