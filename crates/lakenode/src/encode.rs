//! Parquet encoding of a sealed window, with the `parquet` crate's low-level writer
//! (no arrow: it would double the flash and RAM cost on the device).
//!
//! Files follow our users' lake convention: `timestamp` as INT64
//! `TIMESTAMP(MILLIS, isAdjustedToUTC = true)` (what Athena, Spark, DuckDB and pandas all
//! read), then one nullable column per measurement. The footer's key/value metadata
//! carries the station id, schema version, sample interval, window bounds and the
//! software version (keys in [`meta_keys`]).
//!
//! ```
//! use lakenode::{encode, layout::StationId, sample::Sample, schema::Schema, window};
//!
//! let spec = window::WindowSpec::default();
//! let w = window::Window { start_ms: 0, end_ms: 900_000, samples: vec![Sample::new(0)] };
//! let meta = encode::FileMetadata::new(&StationId::new("st-1")?, spec, &w);
//! let bytes = encode::encode_window(&Schema::default(), encode::WriterProfile::Compat, &w, &meta)?;
//! assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
//! # Ok::<(), lakenode::Error>(())
//! ```

use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{DataType, FloatType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::{Type, TypePtr};

use crate::layout::{StationId, rfc3339};
use crate::sample::count_to_f32;
use crate::schema::{Measurement, SCHEMA_VERSION, Schema, TIMESTAMP_COLUMN};
use crate::window::{Window, WindowSpec};
use crate::{Error, Result, SOFTWARE_VERSION};

/// Keys of the footer's key/value metadata.
pub mod meta_keys {
    /// The station id (also in the object key's `station=` partition).
    pub const STATION: &str = "lakenode.station";
    /// [`crate::schema::SCHEMA_VERSION`].
    pub const SCHEMA_VERSION: &str = "lakenode.schema_version";
    /// Milliseconds between samples.
    pub const SAMPLE_INTERVAL_MS: &str = "lakenode.sample_interval_ms";
    /// Window start, RFC 3339 UTC (inclusive).
    pub const WINDOW_START: &str = "lakenode.window_start";
    /// Window end, RFC 3339 UTC (exclusive).
    pub const WINDOW_END: &str = "lakenode.window_end";
    /// `lakenode <version>`.
    pub const SOFTWARE: &str = "lakenode.software";
    /// `column=unit` pairs, comma separated.
    pub const UNITS: &str = "lakenode.units";
}

/// How measurement columns are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriterProfile {
    /// FLOAT measurement columns, as our users' existing lake has them.
    #[default]
    Compat,
}

impl WriterProfile {
    /// Parses a profile name (`compat`).
    ///
    /// # Errors
    /// [`Error::Config`] for the field `profile`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "compat" => Ok(Self::Compat),
            other => Err(Error::config(
                "profile",
                format!("unknown profile `{other}`; known: compat"),
            )),
        }
    }

    /// The profile's name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Compat => "compat",
        }
    }
}

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
        }
    }

    fn key_values(&self, schema: &Schema) -> Vec<KeyValue> {
        let units = schema
            .columns()
            .iter()
            .map(|m| format!("{}={}", m.name(), m.unit()))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            KeyValue::new(meta_keys::STATION.into(), self.station.to_string()),
            KeyValue::new(meta_keys::SCHEMA_VERSION.into(), SCHEMA_VERSION.to_string()),
            KeyValue::new(
                meta_keys::SAMPLE_INTERVAL_MS.into(),
                self.interval_ms.to_string(),
            ),
            KeyValue::new(
                meta_keys::WINDOW_START.into(),
                rfc3339(self.window_start_ms),
            ),
            KeyValue::new(meta_keys::WINDOW_END.into(), rfc3339(self.window_end_ms)),
            KeyValue::new(meta_keys::SOFTWARE.into(), SOFTWARE_VERSION.to_owned()),
            KeyValue::new(meta_keys::UNITS.into(), units),
        ]
    }
}

/// The Parquet schema of a station's files.
///
/// # Errors
/// Only if the parquet crate rejects the schema (a bug, not user input).
pub fn parquet_schema(schema: &Schema, profile: WriterProfile) -> Result<TypePtr> {
    let mut fields = Vec::with_capacity(schema.columns().len() + 1);
    fields.push(Arc::new(
        Type::primitive_type_builder(TIMESTAMP_COLUMN, PhysicalType::INT64)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MILLIS)))
            .build()?,
    ));
    for m in schema.columns() {
        let field = match profile {
            WriterProfile::Compat => Type::primitive_type_builder(m.name(), PhysicalType::FLOAT),
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

/// Writer settings shared by the node and `lakenode encode`.
///
/// Snappy (parquet-rs defaults to uncompressed), no dictionary encoding (each
/// dictionary-encoded column preallocates a ~74 KB hash table, too much for a node
/// without PSRAM, and sensor values repeat too little in 180 rows to gain from it),
/// chunk-level statistics so query engines can prune files by time and value.
fn writer_properties(schema: &Schema, meta: &FileMetadata) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(meta.key_values(schema)))
        .build()
}

/// Encodes a window into a complete Parquet file.
///
/// # Errors
/// [`Error::Parquet`] if the writer fails (not expected for valid windows).
pub fn encode_window(
    schema: &Schema,
    profile: WriterProfile,
    window: &Window,
    meta: &FileMetadata,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(8 * 1024);
    let props = Arc::new(writer_properties(schema, meta));
    let mut writer = SerializedFileWriter::new(&mut out, parquet_schema(schema, profile)?, props)?;
    let mut row_group = writer.next_row_group()?;

    let timestamps: Vec<i64> = window.samples.iter().map(|s| s.timestamp_ms).collect();
    write_column::<Int64Type>(&mut row_group, &timestamps, None)?;

    let rows = window.samples.len();
    let mut values = Vec::with_capacity(rows);
    let mut def_levels = Vec::with_capacity(rows);
    for &m in schema.columns() {
        values.clear();
        def_levels.clear();
        for s in &window.samples {
            let count = s.count(m);
            def_levels.push(i16::from(count.is_some()));
            values.extend(count.map(|c| count_to_f32(m, c)));
        }
        match profile {
            WriterProfile::Compat => {
                write_column::<FloatType>(&mut row_group, &values, Some(&def_levels))?
            }
        }
    }
    row_group.close()?;
    writer.close()?;
    Ok(out)
}

fn write_column<T: DataType>(
    row_group: &mut SerializedRowGroupWriter<'_, &mut Vec<u8>>,
    values: &[T::T],
    def_levels: Option<&[i16]>,
) -> Result<()> {
    let mut column = row_group.next_column()?.ok_or_else(|| {
        Error::Parquet(parquet::errors::ParquetError::General(
            "schema has fewer columns than written".into(),
        ))
    })?;
    column.typed::<T>().write_batch(values, def_levels, None)?;
    column.close()?;
    Ok(())
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
        let station = StationId::new("st-1").expect("valid");
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
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(get(meta_keys::STATION).as_deref(), Some("st-1"));
        assert_eq!(
            get(meta_keys::WINDOW_END).as_deref(),
            Some("1970-01-01T00:15:00Z")
        );
        assert_eq!(get(meta_keys::SAMPLE_INTERVAL_MS).as_deref(), Some("5000"));
        let rg = md.row_group(0);
        assert!(
            rg.columns()
                .iter()
                .all(|c| c.compression() == Compression::SNAPPY)
        );
        // pm25: every 7th row null -> 26 nulls; humidity never recorded -> all null.
        let pm25 = rg.column(1 + Measurement::Pm25.index());
        assert_eq!(pm25.statistics().and_then(|s| s.null_count_opt()), Some(26));
        let hum = rg.column(1 + Measurement::Humidity.index());
        assert_eq!(hum.statistics().and_then(|s| s.null_count_opt()), Some(180));
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
