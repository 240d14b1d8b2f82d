//! Parquet encoding of a sealed window, with the `parquet` crate's low-level writer
//! (no arrow: it would double the flash and RAM cost on the device).
//!
//! Files follow our users' lake convention: `timestamp` as INT64
//! `TIMESTAMP(MILLIS, isAdjustedToUTC = true)` (what Athena, Spark, DuckDB and pandas all
//! read), then one nullable column per measurement. The footer's key/value metadata
//! carries the station id, schema version, sample interval and window bounds as one
//! JSON value under [`META_KEY`]; `created_by` names the software version.
//!
//! The footer's JSON is decoded here too ([`FileMetadata::from_json`], with serde), next
//! to its encoder, so that the two cannot drift apart unnoticed (the tests check that
//! serde's encoding of the same fields is the encoder's, byte for byte). The decoder is
//! behind the cargo feature `read`, which the lake side (the CLI) enables and the node
//! does not: the node never reads a footer, and serde_json would cost it flash. The
//! encoder is written by hand for the same reason.
//!
//! ```
//! use lakenode::{encode, layout::StationId, sample::Sample, schema::Schema, window};
//!
//! let spec = window::WindowSpec::default();
//! let w = window::Window { start_ms: 0, end_ms: 900_000, samples: vec![Sample::new(0)] };
//! let meta = encode::FileMetadata::new(&StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?, spec, &w);
//! let bytes = encode::encode_window(&Schema::default(), encode::WriterProfile::Compat, &w, &meta)?;
//! assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
//! # Ok::<(), lakenode::Error>(())
//! ```

use std::sync::Arc;

use std::io::Write;

use parquet::basic::{
    Compression, Encoding, LogicalType, Repetition, TimeUnit, Type as PhysicalType,
};
use parquet::data_type::{FloatType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::{ColumnPath, Type, TypePtr};

use crate::layout::{StationId, rfc3339};
use crate::sample::{Sample, count_to_f32};
use crate::schema::{Measurement, SCHEMA_VERSION, Schema, TIMESTAMP_COLUMN};
use crate::window::{Window, WindowSpec};
use crate::{Error, Result};

/// The footer's key/value metadata key holding lakenode's JSON object
/// `{"station", "schema", "interval_ms", "start", "end", "units"}` (RFC 3339 UTC window
/// bounds, end exclusive; `units` maps each measurement column, in file order, to its
/// resolution and unit, `"0.01 C"`: absent in files written before it existed). The
/// software version is the file's `created_by`. One key with short names keeps the
/// footer small: at 180 rows it is about a third of the file.
pub const META_KEY: &str = "lakenode";

/// The file's `created_by`, in the `<application> version <v> (build <b>)` form readers
/// parse.
pub const CREATED_BY: &str = concat!(
    "lakenode version ",
    env!("CARGO_PKG_VERSION"),
    " (build parquet-rs)"
);

/// How measurement columns are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriterProfile {
    /// FLOAT measurement columns, as our users' existing lake has them.
    #[default]
    Compat,
    /// Scaled integers: INT32 `DECIMAL(p, s)` where the unit is fractional (temperature,
    /// humidity, pressure, battery), plain INT32 elsewhere. Exact at sensor resolution
    /// and the smallest files.
    Compact,
}

impl WriterProfile {
    /// Parses a profile name (`compat` or `compact`).
    ///
    /// # Errors
    /// [`Error::Config`] for the field `profile`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "compat" => Ok(Self::Compat),
            "compact" => Ok(Self::Compact),
            other => Err(Error::config(
                "profile",
                format!("unknown profile `{other}`; known: compat, compact"),
            )),
        }
    }

    /// The profile's name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Compat => "compat",
            Self::Compact => "compact",
        }
    }

    /// How this profile stores measurement values.
    #[must_use]
    pub const fn layout(self) -> ColumnLayout {
        match self {
            Self::Compat => ColumnLayout::Float,
            Self::Compact => ColumnLayout::ScaledInt,
        }
    }

    /// The writer settings of this profile (see `docs/encoding.md` for the measurements
    /// behind each choice):
    /// - Snappy (parquet-rs defaults to uncompressed; Snappy is pure Rust, unlike zstd);
    /// - no dictionary encoding: each dictionary-encoded column preallocates a ~74 KB
    ///   hash table, and 180 sensor readings repeat too little to gain from it;
    /// - `timestamp` and integer columns DELTA_BINARY_PACKED (regular 5 s steps pack to
    ///   almost nothing); FLOAT columns of whole-number readings BYTE_STREAM_SPLIT,
    ///   fractional ones PLAIN;
    /// - statistics for `timestamp` only (engines skip files by time; per-measurement
    ///   min/max would add ~25% to a 15-minute file's size) and no page index (one page
    ///   per column);
    /// - pages of at most 1024 rows so long windows encode in bounded memory.
    #[must_use]
    pub fn properties(self, key_values: Vec<KeyValue>) -> WriterProperties {
        let builder = WriterProperties::builder()
            .set_created_by(CREATED_BY.to_owned())
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_statistics_enabled(
                ColumnPath::from(TIMESTAMP_COLUMN),
                EnabledStatistics::Chunk,
            )
            .set_offset_index_disabled(true)
            .set_data_page_row_count_limit(BATCH_ROWS)
            .set_write_batch_size(BATCH_ROWS)
            .set_key_value_metadata(Some(key_values))
            .set_column_encoding(
                ColumnPath::from(TIMESTAMP_COLUMN),
                Encoding::DELTA_BINARY_PACKED,
            );
        match self {
            // Whole-number readings stored as FLOAT: BYTE_STREAM_SPLIT gathers their
            // constant low mantissa bytes. Fractional ones (0.01 steps) have noisy low
            // bytes, and PLAIN lets Snappy match whole values instead.
            Self::Compat => Measurement::ALL
                .into_iter()
                .filter(|m| m.decimals() > 0)
                .fold(builder.set_encoding(Encoding::BYTE_STREAM_SPLIT), |b, m| {
                    b.set_column_encoding(ColumnPath::from(m.name()), Encoding::PLAIN)
                }),
            Self::Compact => builder.set_encoding(Encoding::DELTA_BINARY_PACKED),
        }
        .build()
    }
}

/// The physical representation of measurement columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnLayout {
    /// FLOAT (f32) in the measurement's unit.
    Float,
    /// INT32 counts of the sensor resolution, annotated `DECIMAL` when fractional.
    ScaledInt,
}

/// Rows written per batch and per data page: bounds the encoder's memory for any
/// window length.
pub const BATCH_ROWS: usize = 1024;

/// What goes into a file's footer metadata besides the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    /// The station that took the samples.
    pub station: StationId,
    /// Milliseconds between samples.
    pub interval_ms: i64,
    /// Window start, ms (inclusive).
    pub window_start_ms: i64,
    /// Window end, ms (exclusive).
    pub window_end_ms: i64,
    /// More footer key/value pairs (a compacted file lists its sources here).
    pub extra: Vec<(String, String)>,
    /// Each measurement column's resolution and unit as the footer's `units` object
    /// holds them, in file order: `("temperature", "0.01 C")`. Empty for a file written
    /// before lakenode wrote units, and in [`FileMetadata::new`]: an [`Encoder`] writes
    /// its own schema's ([`Measurement::resolution`]), whatever this holds.
    pub units: Vec<(String, String)>,
}

impl FileMetadata {
    /// Metadata of a window's file.
    #[must_use]
    pub fn new(station: &StationId, spec: WindowSpec, window: &Window) -> Self {
        Self {
            station: station.clone(),
            interval_ms: spec.interval_ms(),
            window_start_ms: window.start_ms,
            window_end_ms: window.end_ms,
            extra: Vec::new(),
            units: Vec::new(),
        }
    }

    /// The footer's key/value pairs: one [`META_KEY`] with a JSON object, then `extra`.
    #[must_use]
    pub fn key_values(&self) -> Vec<KeyValue> {
        self.pairs_with(self.to_json())
    }

    /// [`FileMetadata::key_values`] of a file of `schema`: its `units` are the schema's.
    #[must_use]
    pub fn key_values_for(&self, schema: &Schema) -> Vec<KeyValue> {
        let units = schema.columns().iter().map(|m| (m.name(), m.resolution()));
        self.pairs_with(self.json_with(units))
    }

    fn pairs_with(&self, json: String) -> Vec<KeyValue> {
        std::iter::once(KeyValue::new(META_KEY.into(), json))
            .chain(
                self.extra
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .collect()
    }

    /// The JSON value stored under [`META_KEY`], with `units` from [`Self::units`]
    /// (left out when empty). Written by hand: the values are validated ids, numbers,
    /// timestamps and lakenode's own column names and units, never needing escapes.
    #[must_use]
    pub fn to_json(&self) -> String {
        self.json_with(self.units.iter().map(|(c, u)| (c.as_str(), u.as_str())))
    }

    fn json_with<'a>(&self, units: impl Iterator<Item = (&'a str, &'a str)>) -> String {
        let mut json = format!(
            r#"{{"station":"{}","schema":{SCHEMA_VERSION},"interval_ms":{},"start":"{}","end":"{}""#,
            self.station,
            self.interval_ms,
            rfc3339(self.window_start_ms),
            rfc3339(self.window_end_ms)
        );
        let mut first = true;
        for (column, unit) in units {
            json.push_str(if first { r#","units":{""# } else { r#",""# });
            first = false;
            for part in [column, r#"":""#, unit, "\""] {
                json.push_str(part);
            }
        }
        json.push_str(if first { "}" } else { "}}" });
        json
    }
}

/// The [`META_KEY`] JSON object's fields, in the order [`FileMetadata::to_json`] writes
/// them: what serde decodes (and encodes, in the tests, to compare).
#[cfg(any(feature = "read", test))]
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Footer {
    station: String,
    schema: u32,
    interval_ms: i64,
    start: String,
    end: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "ordered_map")]
    units: Vec<(String, String)>,
}

/// A JSON object of strings kept in its order (serde_json's own map sorts its keys
/// unless a crate-wide feature changes that for every user of it): the `units` object
/// decodes to the columns in file order, and encodes back to the same bytes.
#[cfg(any(feature = "read", test))]
mod ordered_map {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;

    pub(super) fn serialize<S: serde::Serializer>(
        pairs: &[(String, String)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(pairs)
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

#[cfg(any(feature = "read", test))]
impl FileMetadata {
    /// Decodes the JSON value stored under [`META_KEY`] (what [`FileMetadata::to_json`]
    /// writes, with any spacing: other tools rewriting a file keep the values, not the
    /// layout); `extra` is empty. Fields other tools may add are ignored.
    ///
    /// ```
    /// # use lakenode::{encode::FileMetadata, layout::StationId};
    /// let json = r#"{"station": "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e", "schema": 1, "interval_ms": 10000,
    ///     "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:15:00Z"}"#;
    /// let meta = FileMetadata::from_json(json)?;
    /// assert_eq!((meta.interval_ms, meta.window_end_ms - meta.window_start_ms), (10_000, 900_000));
    /// # Ok::<(), lakenode::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Format`] if the text is not that JSON object, a field is missing or of
    /// another type, the station is not a station id, a bound is not an RFC 3339
    /// instant, or the schema version is not [`SCHEMA_VERSION`].
    pub fn from_json(json: &str) -> Result<Self> {
        const WHAT: &str = "footer metadata";
        let footer: Footer =
            serde_json::from_str(json).map_err(|e| Error::format(WHAT, e.to_string()))?;
        if footer.schema != SCHEMA_VERSION {
            return Err(Error::format(
                WHAT,
                format!(
                    "schema version {} (this lakenode reads {SCHEMA_VERSION})",
                    footer.schema
                ),
            ));
        }
        let station =
            StationId::new(footer.station).map_err(|e| Error::format(WHAT, e.to_string()))?;
        let instant = |name: &str, text: &str| {
            text.parse::<jiff::Timestamp>()
                .map(jiff::Timestamp::as_millisecond)
                .map_err(|e| Error::format(WHAT, format!("`{name}` {text:?}: {e}")))
        };
        Ok(Self {
            station,
            interval_ms: footer.interval_ms,
            window_start_ms: instant("start", &footer.start)?,
            window_end_ms: instant("end", &footer.end)?,
            extra: Vec::new(),
            units: footer.units,
        })
    }

    /// Decodes a file's footer key/value pairs: [`META_KEY`]'s JSON (the first, if a
    /// writer repeated it), and every other pair into `extra`, in order: the inverse of
    /// [`FileMetadata::key_values`].
    ///
    /// # Errors
    /// [`Error::Format`] if [`META_KEY`] is missing or does not decode
    /// ([`FileMetadata::from_json`]).
    pub fn from_key_values(pairs: &[(String, String)]) -> Result<Self> {
        let mut meta = None;
        let mut extra = Vec::new();
        for (k, v) in pairs {
            if k == META_KEY && meta.is_none() {
                meta = Some(Self::from_json(v)?);
            } else {
                extra.push((k.clone(), v.clone()));
            }
        }
        let meta = meta.ok_or_else(|| {
            Error::format("footer metadata", format!("no `{META_KEY}` key/value pair"))
        })?;
        Ok(Self { extra, ..meta })
    }
}

/// The Parquet schema of a station's files.
///
/// # Errors
/// Only if the parquet crate rejects the schema (a bug, not user input).
pub fn parquet_schema(schema: &Schema, layout: ColumnLayout) -> Result<TypePtr> {
    let mut fields = Vec::with_capacity(schema.columns().len() + 1);
    fields.push(Arc::new(
        Type::primitive_type_builder(TIMESTAMP_COLUMN, PhysicalType::INT64)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MILLIS)))
            .build()?,
    ));
    for &m in schema.columns() {
        let field = match layout {
            ColumnLayout::Float => Type::primitive_type_builder(m.name(), PhysicalType::FLOAT),
            ColumnLayout::ScaledInt if m.decimals() > 0 => {
                let (scale, precision) = decimal_of(m);
                Type::primitive_type_builder(m.name(), PhysicalType::INT32)
                    .with_logical_type(Some(LogicalType::decimal(scale, precision)))
                    .with_precision(precision)
                    .with_scale(scale)
            }
            ColumnLayout::ScaledInt => Type::primitive_type_builder(m.name(), PhysicalType::INT32),
        };
        fields.push(Arc::new(
            field.with_repetition(Repetition::OPTIONAL).build()?,
        ));
    }
    Ok(Arc::new(
        Type::group_type_builder("lakenode")
            .with_fields(fields)
            .build()?,
    ))
}

/// `(scale, precision)` of a fractional measurement's DECIMAL: enough digits for the
/// largest count its range allows.
#[must_use]
pub fn decimal_of(m: Measurement) -> (i32, i32) {
    let (min, max) = m.range();
    let largest = min.abs().max(max.abs()) * f64::from(m.scale());
    #[allow(clippy::cast_possible_truncation)]
    let digits = largest.log10().floor() as i32 + 1;
    (i32::try_from(m.decimals()).unwrap_or(0), digits)
}

/// A station's encoder: the Parquet schema and writer settings, built once and reused
/// for every window (building them is a good part of the cost of a small file).
#[derive(Debug, Clone)]
pub struct Encoder {
    schema: Schema,
    layout: ColumnLayout,
    parquet_schema: TypePtr,
    props: Arc<WriterProperties>,
}

impl Encoder {
    /// An encoder for `schema` with `profile`'s settings.
    ///
    /// # Errors
    /// Only if the parquet crate rejects the schema (a bug, not user input).
    pub fn new(schema: &Schema, profile: WriterProfile) -> Result<Self> {
        Self::with_properties(schema, profile.layout(), profile.properties(Vec::new()))
    }

    /// An encoder with explicit writer properties: the building block of the profiles,
    /// public for benchmarks that compare settings.
    ///
    /// # Errors
    /// As [`Encoder::new`].
    pub fn with_properties(
        schema: &Schema,
        layout: ColumnLayout,
        props: WriterProperties,
    ) -> Result<Self> {
        Ok(Self {
            schema: schema.clone(),
            layout,
            parquet_schema: parquet_schema(schema, layout)?,
            props: Arc::new(props),
        })
    }

    /// Encodes a window into a complete Parquet file in memory.
    ///
    /// # Errors
    /// [`Error::Parquet`] if the writer fails (not expected for valid windows).
    pub fn encode(&self, window: &Window, meta: &FileMetadata) -> Result<Vec<u8>> {
        self.encode_to(&window.samples, Some(meta), Vec::with_capacity(8 * 1024))
    }

    /// Encodes samples straight into `sink` (a file, a hasher...), returning the sink:
    /// memory stays bounded by the page size whatever the number of samples.
    ///
    /// # Errors
    /// [`Error::Parquet`] if writing fails.
    pub fn encode_to<W: Write + Send>(
        &self,
        samples: &[Sample],
        meta: Option<&FileMetadata>,
        sink: W,
    ) -> Result<W> {
        let mut stream = self.stream(sink, meta)?;
        stream.write_row_group(samples)?;
        stream.finish()
    }

    /// Starts a file in `sink` that is written one row group at a time
    /// ([`FileStream::write_row_group`]): a file of any length in the memory of one
    /// row group (`lakenode encode` streams a CSV this way).
    ///
    /// # Errors
    /// [`Error::Parquet`] if the writer cannot start.
    pub fn stream<W: Write + Send>(
        &self,
        sink: W,
        meta: Option<&FileMetadata>,
    ) -> Result<FileStream<'_, W>> {
        let mut writer = SerializedFileWriter::new(
            sink,
            Arc::clone(&self.parquet_schema),
            Arc::clone(&self.props),
        )?;
        if let Some(meta) = meta {
            for kv in meta.key_values_for(&self.schema) {
                writer.append_key_value_metadata(kv);
            }
        }
        Ok(FileStream {
            encoder: self,
            writer,
        })
    }
}

/// A row group's values, read one column at a time (see
/// [`FileStream::write_row_group_from`]): rows in memory, or spilled to storage so a
/// file of any length is written as one row group in constant memory.
pub trait ColumnSource {
    /// Rewinds to the first timestamp.
    ///
    /// # Errors
    /// The source's storage failed.
    fn start_timestamps(&mut self) -> Result<()>;
    /// Appends up to `max` next timestamps to `out` (none at the end).
    ///
    /// # Errors
    /// The source's storage failed.
    fn read_timestamps(&mut self, out: &mut Vec<i64>, max: usize) -> Result<()>;
    /// Rewinds to the first count of `m`.
    ///
    /// # Errors
    /// The source's storage failed.
    fn start_counts(&mut self, m: Measurement) -> Result<()>;
    /// Appends up to `max` next counts of `m` (`None`: no reading) to `out`.
    ///
    /// # Errors
    /// The source's storage failed.
    fn read_counts(&mut self, m: Measurement, out: &mut Vec<Option<i32>>, max: usize)
    -> Result<()>;
    /// The number of rows, if known: batch buffers are then sized to it rather than
    /// to [`BATCH_ROWS`] (16 KiB of buffers a 178-row window does not need).
    fn rows(&self) -> Option<usize> {
        None
    }
}

/// Samples in memory as a [`ColumnSource`].
struct SliceSource<'a> {
    samples: &'a [Sample],
    pos: usize,
}

impl SliceSource<'_> {
    fn next_batch(&mut self, max: usize) -> &[Sample] {
        let end = (self.pos + max).min(self.samples.len());
        let batch = &self.samples[self.pos..end];
        self.pos = end;
        batch
    }
}

impl ColumnSource for SliceSource<'_> {
    fn start_timestamps(&mut self) -> Result<()> {
        self.pos = 0;
        Ok(())
    }
    fn read_timestamps(&mut self, out: &mut Vec<i64>, max: usize) -> Result<()> {
        out.extend(self.next_batch(max).iter().map(|s| s.timestamp_ms));
        Ok(())
    }
    fn start_counts(&mut self, _: Measurement) -> Result<()> {
        self.pos = 0;
        Ok(())
    }
    fn read_counts(
        &mut self,
        m: Measurement,
        out: &mut Vec<Option<i32>>,
        max: usize,
    ) -> Result<()> {
        out.extend(self.next_batch(max).iter().map(|s| s.count(m)));
        Ok(())
    }
    fn rows(&self) -> Option<usize> {
        Some(self.samples.len())
    }
}

/// A Parquet file being written row group by row group; see [`Encoder::stream`].
pub struct FileStream<'a, W: Write + Send> {
    encoder: &'a Encoder,
    writer: SerializedFileWriter<W>,
}

impl<W: Write + Send> std::fmt::Debug for FileStream<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStream").finish_non_exhaustive()
    }
}

impl<W: Write + Send> FileStream<'_, W> {
    /// Writes `samples` (in time order) as one row group.
    ///
    /// # Errors
    /// [`Error::Parquet`] if writing fails.
    pub fn write_row_group(&mut self, samples: &[Sample]) -> Result<()> {
        self.write_row_group_from(&mut SliceSource { samples, pos: 0 })
    }

    /// Writes one row group read column by column from `source`: the timestamps
    /// first, then each measurement column in schema order, [`BATCH_ROWS`] at a time.
    /// Memory stays that of one batch however many rows the source holds.
    ///
    /// # Errors
    /// [`Error::Parquet`] if writing fails; the source's own errors.
    pub fn write_row_group_from(&mut self, source: &mut impl ColumnSource) -> Result<()> {
        let batch = source.rows().map_or(BATCH_ROWS, |n| n.clamp(1, BATCH_ROWS));
        let mut row_group = self.writer.next_row_group()?;
        let mut column = next_column(&mut row_group)?;
        let mut timestamps = Vec::with_capacity(batch);
        source.start_timestamps()?;
        loop {
            timestamps.clear();
            source.read_timestamps(&mut timestamps, batch)?;
            if timestamps.is_empty() {
                break;
            }
            column
                .typed::<Int64Type>()
                .write_batch(&timestamps, None, None)?;
        }
        column.close()?;
        drop(timestamps);

        let mut counts = Vec::with_capacity(batch);
        let mut def_levels = Vec::with_capacity(batch);
        let mut floats = Vec::new();
        let mut ints = Vec::new();
        match self.encoder.layout {
            ColumnLayout::Float => floats.reserve(batch),
            ColumnLayout::ScaledInt => ints.reserve(batch),
        }
        for &m in self.encoder.schema.columns() {
            let mut column = next_column(&mut row_group)?;
            source.start_counts(m)?;
            loop {
                counts.clear();
                source.read_counts(m, &mut counts, batch)?;
                if counts.is_empty() {
                    break;
                }
                def_levels.clear();
                def_levels.extend(counts.iter().map(|c| i16::from(c.is_some())));
                match self.encoder.layout {
                    ColumnLayout::Float => {
                        floats.clear();
                        floats.extend(counts.iter().flatten().map(|&c| count_to_f32(m, c)));
                        column.typed::<FloatType>().write_batch(
                            &floats,
                            Some(&def_levels),
                            None,
                        )?;
                    }
                    ColumnLayout::ScaledInt => {
                        ints.clear();
                        ints.extend(counts.iter().flatten());
                        column
                            .typed::<Int32Type>()
                            .write_batch(&ints, Some(&def_levels), None)?;
                    }
                }
            }
            column.close()?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Writes the footer and returns the sink.
    ///
    /// # Errors
    /// [`Error::Parquet`] if writing fails.
    pub fn finish(self) -> Result<W> {
        Ok(self.writer.into_inner()?)
    }
}

/// Encodes a window into a complete Parquet file in memory (builds an [`Encoder`] for
/// this one call; a node keeps one).
///
/// # Errors
/// [`Error::Parquet`] if the writer fails (not expected for valid windows).
pub fn encode_window(
    schema: &Schema,
    profile: WriterProfile,
    window: &Window,
    meta: &FileMetadata,
) -> Result<Vec<u8>> {
    Encoder::new(schema, profile)?.encode(window, meta)
}

fn next_column<'a, W: Write + Send>(
    row_group: &'a mut SerializedRowGroupWriter<'_, W>,
) -> Result<parquet::file::writer::SerializedColumnWriter<'a>> {
    row_group.next_column()?.ok_or_else(|| {
        Error::Parquet(parquet::errors::ParquetError::General(
            "schema has fewer columns than written".into(),
        ))
    })
}

/// Column names of a file for `schema`, `timestamp` first (for checks and docs).
#[must_use]
pub fn column_names(schema: &Schema) -> Vec<&'static str> {
    std::iter::once(TIMESTAMP_COLUMN)
        .chain(schema.columns().iter().map(|m| Measurement::name(*m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    fn window() -> Window {
        let samples = (0..180)
            .map(|i| {
                let mut s = Sample::new(i * 5_000);
                s.record(Measurement::Temperature, 20.0 + f64::from(i as i32) * 0.01)
                    .expect("valid");
                if i % 7 != 0 {
                    s.record(Measurement::Pm25, f64::from(i as i32 % 40))
                        .expect("valid");
                }
                s
            })
            .collect();
        Window {
            start_ms: 0,
            end_ms: 900_000,
            samples,
        }
    }

    #[test]
    fn file_reads_back_with_schema_metadata_and_nulls() {
        let w = window();
        let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("valid");
        let meta = FileMetadata::new(&station, WindowSpec::default(), &w);
        let schema = Schema::default();
        let bytes = encode_window(&schema, WriterProfile::Compat, &w, &meta).expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("valid parquet");
        let md = reader.metadata();
        assert_eq!(md.file_metadata().num_rows(), 180);
        let names: Vec<_> = md
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        assert_eq!(names, column_names(&schema));
        let ts = md.file_metadata().schema_descr().column(0);
        assert_eq!(
            ts.logical_type_ref(),
            Some(&LogicalType::timestamp(true, TimeUnit::MILLIS))
        );
        let kv = md
            .file_metadata()
            .key_value_metadata()
            .expect("kv metadata");
        assert_eq!(kv.len(), 1);
        assert_eq!(kv[0].key, META_KEY);
        assert_eq!(
            kv[0].value.as_deref(),
            Some(
                r#"{"station":"0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e","schema":1,"interval_ms":5000,"start":"1970-01-01T00:00:00Z","end":"1970-01-01T00:15:00Z","units":{"temperature":"0.01 C","humidity":"0.01 %RH","pressure":"0.01 hPa","pm1":"1 ug/m3","pm25":"1 ug/m3","pm10":"1 ug/m3","co2":"1 ppm","voc_index":"1 index","battery":"0.001 V"}}"#
            )
        );
        assert_eq!(md.file_metadata().created_by(), Some(CREATED_BY));
        let rg = md.row_group(0);
        assert!(
            rg.columns()
                .iter()
                .all(|c| c.compression() == Compression::SNAPPY)
        );
        // pm25: every 7th row null -> 26 nulls; humidity never recorded -> all null.
        let rows = rows_of(&reader);
        assert_eq!(
            rows.iter()
                .filter(|r| r[1 + Measurement::Pm25.index()] == Field::Null)
                .count(),
            26
        );
        assert!(
            rows.iter()
                .all(|r| r[1 + Measurement::Humidity.index()] == Field::Null)
        );
        assert_eq!(rows[1][1], Field::Float(20.01));
        // Statistics only where engines prune: on the timestamp.
        assert!(rg.column(0).statistics().is_some());
        assert!(rg.column(1).statistics().is_none());
    }

    fn rows_of(reader: &SerializedFileReader<bytes::Bytes>) -> Vec<Vec<Field>> {
        reader
            .get_row_iter(None)
            .expect("rows")
            .map(|r| {
                r.expect("row")
                    .get_column_iter()
                    .map(|(_, f)| f.clone())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn compact_files_hold_exact_decimals_and_integers() {
        let w = window();
        let meta = FileMetadata::new(
            &StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("valid"),
            WindowSpec::default(),
            &w,
        );
        let bytes =
            encode_window(&Schema::default(), WriterProfile::Compact, &w, &meta).expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("valid parquet");
        let descr = reader.metadata().file_metadata().schema_descr_ptr();
        let temp = descr.column(1 + Measurement::Temperature.index());
        assert_eq!(temp.physical_type(), PhysicalType::INT32);
        assert_eq!(temp.logical_type_ref(), Some(&LogicalType::decimal(2, 4)));
        assert_eq!(
            descr
                .column(1 + Measurement::Pm25.index())
                .logical_type_ref(),
            None
        );
        let rows = rows_of(&reader);
        assert_eq!(
            rows[1][1],
            Field::Decimal(parquet::data_type::Decimal::from_i32(2001, 4, 2))
        );
        assert_eq!(rows[1][1 + Measurement::Pm25.index()], Field::Int(1));
    }

    #[test]
    fn decimal_precision_covers_each_range() {
        assert_eq!(decimal_of(Measurement::Temperature), (2, 4));
        assert_eq!(decimal_of(Measurement::Humidity), (2, 5));
        assert_eq!(decimal_of(Measurement::Pressure), (2, 6));
        assert_eq!(decimal_of(Measurement::Battery), (3, 4));
    }

    #[test]
    fn long_windows_are_written_in_bounded_pages() {
        let samples: Vec<Sample> = (0..5_000).map(|i| Sample::new(i * 5_000)).collect();
        let w = Window {
            start_ms: 0,
            end_ms: 86_400_000,
            samples,
        };
        let meta = FileMetadata::new(
            &StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("valid"),
            WindowSpec::default(),
            &w,
        );
        let bytes =
            encode_window(&Schema::default(), WriterProfile::Compat, &w, &meta).expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("valid parquet");
        let mut pages = reader
            .get_row_group(0)
            .expect("rg")
            .get_column_page_reader(0)
            .expect("pages");
        let mut count = 0;
        while let Some(page) = pages.get_next_page().expect("page") {
            assert!(page.num_values() as usize <= BATCH_ROWS);
            count += 1;
        }
        assert_eq!(count, 5, "5000 rows in pages of at most {BATCH_ROWS}");
    }

    /// The encoder's JSON for a fixed value is today's, byte for byte, and serde's
    /// encoding of the same fields agrees with it.
    #[cfg(any(feature = "read", test))]
    #[test]
    fn the_footer_json_is_stable_and_decodes_back() {
        let meta = FileMetadata {
            station: StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("valid"),
            interval_ms: 5_000,
            window_start_ms: 1_767_272_400_000,
            window_end_ms: 1_767_273_300_000,
            extra: vec![("lakenode.sources".into(), "abc data_1300.parquet\n".into())],
            units: Vec::new(),
        };
        let json = meta.to_json();
        assert_eq!(
            json,
            r#"{"station":"0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e","schema":1,"interval_ms":5000,"start":"2026-01-01T13:00:00Z","end":"2026-01-01T13:15:00Z"}"#
        );
        // With units (in file order, not sorted), as an encoder writes them.
        let schema = Schema::parse_list("pm25,temperature").expect("schema");
        let with_units = meta.key_values_for(&schema);
        let units_json = with_units[0].value.clone().expect("json");
        assert_eq!(
            units_json,
            json.replace(
                '}',
                r#","units":{"temperature":"0.01 C","pm25":"1 ug/m3"}}"#
            )
        );
        let footer: Footer = serde_json::from_str(&units_json).expect("decodes");
        assert_eq!(serde_json::to_string(&footer).expect("encodes"), units_json);
        let decoded = FileMetadata::from_json(&units_json).expect("decodes");
        assert_eq!(
            decoded.units,
            [
                ("temperature".to_owned(), "0.01 C".to_owned()),
                ("pm25".to_owned(), "1 ug/m3".to_owned())
            ]
        );
        assert_eq!(decoded.to_json(), units_json);
        let footer: Footer = serde_json::from_str(&json).expect("decodes");
        assert_eq!(serde_json::to_string(&footer).expect("encodes"), json);
        let pairs: Vec<(String, String)> = meta
            .key_values()
            .into_iter()
            .map(|kv| (kv.key, kv.value.unwrap_or_default()))
            .collect();
        assert_eq!(
            FileMetadata::from_key_values(&pairs).expect("decodes"),
            meta
        );
    }

    #[cfg(any(feature = "read", test))]
    #[test]
    fn footers_that_are_not_lakenodes_are_refused() {
        let good = r#"{"station":"0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e","schema":1,"interval_ms":5000,"start":"2026-01-01T13:00:00Z","end":"2026-01-01T13:15:00Z"}"#;
        assert!(FileMetadata::from_json(good).is_ok());
        for bad in [
            "",
            "{}",
            "[1]",
            &good.replace("5000", "\"5000\""),
            &good.replace("\"schema\":1", "\"schema\":2"),
            &good.replace("0190f5c2", "0190F5C2"),
            &good.replace("13:15:00Z", "13:15:00"),
            &good.replace(",\"end\":\"2026-01-01T13:15:00Z\"", ""),
            &good[..good.len() - 1],
        ] {
            let e = FileMetadata::from_json(bad).expect_err(bad);
            assert!(
                e.to_string().starts_with("not a lakenode footer metadata"),
                "{e}"
            );
        }
        assert!(FileMetadata::from_key_values(&[("other".into(), good.into())]).is_err());
        // `units` is optional (files from before it), but an object of strings if there.
        assert!(
            FileMetadata::from_json(good)
                .expect("decodes")
                .units
                .is_empty()
        );
        for bad in [r#""units":[]"#, r#""units":{"pm25":1}"#, r#""units":"C""#] {
            let json = good.replace(r#""schema":1"#, &format!(r#""schema":1,{bad}"#));
            assert!(FileMetadata::from_json(&json).is_err(), "{json}");
        }
    }

    #[cfg(any(feature = "read", test))]
    mod footer_properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// decode(encode(m)) == m, and serde's encoding is the encoder's.
            #[test]
            fn footer_metadata_round_trips(
                id in any::<u128>(),
                interval_ms in 1i64..86_400_000,
                start in 0i64..4_102_444_800_000,
                len in 1i64..86_400_000,
                columns in 0usize..=9,
            ) {
                let h = format!("{id:032x}");
                let station = StationId::new(format!(
                    "{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]
                )).expect("uuid");
                let meta = FileMetadata {
                    station,
                    interval_ms,
                    window_start_ms: start,
                    window_end_ms: start + len,
                    extra: Vec::new(),
                    units: Schema::default()
                        .columns()
                        .iter()
                        .take(columns)
                        .map(|m| (m.name().to_owned(), m.resolution().to_owned()))
                        .collect(),
                };
                let json = meta.to_json();
                prop_assert_eq!(FileMetadata::from_json(&json).expect("decodes"), meta);
                let footer: Footer = serde_json::from_str(&json).expect("decodes");
                prop_assert_eq!(serde_json::to_string(&footer).expect("encodes"), json);
            }
        }
    }

    #[test]
    fn profile_names_parse() {
        assert_eq!(
            WriterProfile::parse("compat").expect("known"),
            WriterProfile::Compat
        );
        assert!(WriterProfile::parse("fast").is_err());
    }
}
