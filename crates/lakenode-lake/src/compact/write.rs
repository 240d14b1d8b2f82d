//! Writing a daily file: the inputs' row groups copied as they are, or their rows
//! re-encoded by lakenode's writer, with the footer compaction adds (the sources list
//! and the day's summary).

use std::sync::Arc;

use jiff::civil::Date;
use lakenode::encode::{FileMetadata, WriterProfile, encode_window};
use lakenode::health::HealthRow;
use lakenode::layout::Tree;
use lakenode::sample::Sample;
use lakenode::schema::Schema;
use lakenode::window::Window;
use parquet::basic::Type as PhysicalType;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::{DayDir, DayError, Input, Resolved, SOURCES_KEY, day_bounds};
use crate::error::Error;
use crate::summary;

/// What compaction adds to a daily file's footer: the sources list and the day's
/// summary ([`crate::summary`]: key and JSON), if the rows allow one.
pub(super) struct Footer<'a> {
    pub(super) sources: &'a str,
    pub(super) summary: Option<(&'static str, String)>,
}

impl Footer<'_> {
    fn pairs(&self) -> Vec<(String, String)> {
        let mut kv = vec![(SOURCES_KEY.to_owned(), self.sources.to_owned())];
        kv.extend(
            self.summary
                .as_ref()
                .map(|(k, v)| ((*k).to_owned(), v.clone())),
        );
        kv
    }
}

/// The summary of the daily file's rows: the resolved samples (data), or every
/// input's health rows.
pub(super) fn day_summary(
    tree: Tree,
    day: &DayDir,
    inputs: &[&Input],
    resolved: Option<&Resolved>,
) -> Result<Option<(&'static str, String)>, DayError> {
    let start =
        day_start_ms(day.date).ok_or_else(|| DayError::Skip("not a day directory".into()))?;
    Ok(match (tree, resolved) {
        (Tree::Data, Some(r)) => Some((
            summary::DATA_KEY,
            summary::DaySummary::of(start, &r.samples).to_json(),
        )),
        (Tree::Data, None) => None,
        (Tree::Health, _) => {
            let mut rows = Vec::new();
            for i in inputs {
                rows.extend_from_slice(i.health_rows().map_err(DayError::Skip)?);
            }
            summary::HealthSummary::of(start, &rows).map(|s| (summary::HEALTH_KEY, s.to_json()))
        }
    })
}

/// The footer metadata of a daily file: the first input's, with `lakenode`'s window
/// bounds widened to the day, the sources list and the day's summary.
fn daily_key_values(day: &DayDir, inputs: &[&Input], footer: &Footer<'_>) -> Vec<KeyValue> {
    let mut kv: Vec<KeyValue> = Vec::new();
    if let Some(first) = inputs.first() {
        for (k, v) in first.file.key_values() {
            if [SOURCES_KEY, summary::DATA_KEY, summary::HEALTH_KEY].contains(&k.as_str()) {
                continue;
            }
            let v = if k == lakenode::encode::META_KEY {
                day_metadata(day, &v).map_or(v, |m| m.to_json())
            } else {
                v
            };
            kv.push(KeyValue::new(k, v));
        }
    }
    kv.extend(footer.pairs().into_iter().map(|(k, v)| KeyValue::new(k, v)));
    kv
}

/// The footer metadata of the daily file of `day`: its station, the whole day, and the
/// interval and column units of a window file's `lakenode` JSON (5 s and no units if it
/// does not decode; a rewritten file gets its encoder's units anyway).
pub(super) fn day_metadata(day: &DayDir, window_json: &str) -> Option<FileMetadata> {
    let (start, end) = day_bounds(day.date)?;
    let window = FileMetadata::from_json(window_json).ok();
    Some(FileMetadata {
        station: day.station.clone(),
        interval_ms: window.as_ref().map_or(5_000, |m| m.interval_ms),
        window_start_ms: start,
        window_end_ms: end,
        extra: Vec::new(),
        units: window.map(|m| m.units).unwrap_or_default(),
    })
}

/// The first millisecond of `date` (UTC).
pub(super) fn day_start_ms(date: Date) -> Option<i64> {
    Some(
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// The daily file as the inputs' row groups, copied without decoding.
pub(super) fn copy_row_groups(
    inputs: &[&Input],
    footer: &Footer<'_>,
    day: &DayDir,
) -> Result<Vec<u8>, DayError> {
    let dir = &day.dir;
    let fail = |e: parquet::errors::ParquetError| {
        DayError::Fatal(Error::Check(format!("{dir}: writing the daily file: {e}")))
    };
    let first = inputs
        .first()
        .ok_or_else(|| DayError::Skip("nothing to compact".into()))?;
    let schema = first
        .file
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema_ptr();
    let props = WriterProperties::builder()
        .set_created_by(format!("lakenode compact {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(daily_key_values(day, inputs, footer)))
        .build();
    let mut writer =
        SerializedFileWriter::new(Vec::new(), schema, Arc::new(props)).map_err(fail)?;
    for input in inputs {
        for rg in input.file.metadata().row_groups() {
            let mut out = writer.next_row_group().map_err(fail)?;
            for column in rg.columns() {
                let close = ColumnCloseResult {
                    bytes_written: u64::try_from(column.compressed_size()).unwrap_or(0),
                    rows_written: u64::try_from(rg.num_rows()).unwrap_or(0),
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index: None,
                    offset_index: None,
                };
                out.append_column(&input.bytes, close).map_err(fail)?;
            }
            out.close().map_err(fail)?;
        }
    }
    writer.into_inner().map_err(fail)
}

/// The daily file re-encoded with lakenode's writer: `samples` (in time order) written
/// as one row group (statistics on `timestamp`).
pub(super) fn rewrite(
    day: &DayDir,
    inputs: &[&Input],
    samples: &[Sample],
    footer: &Footer<'_>,
) -> Result<Vec<u8>, DayError> {
    let samples = samples.to_vec();
    let columns = inputs
        .last()
        .map(|i| i.file.columns().to_vec())
        .unwrap_or_default();
    let first = inputs.first().map(|i| &i.file);
    let profile = match first
        .and_then(|f| {
            f.metadata()
                .file_metadata()
                .schema_descr()
                .columns()
                .get(1)
                .cloned()
        })
        .map(|c| c.physical_type())
    {
        Some(PhysicalType::INT32) => WriterProfile::Compact,
        _ => WriterProfile::Compat,
    };
    let schema = Schema::new(columns).map_err(|e| DayError::Skip(e.to_string()))?;
    let json = first
        .map(|f| f.key_values())
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == lakenode::encode::META_KEY)
        .map(|(_, v)| v)
        .unwrap_or_default();
    let meta = FileMetadata {
        extra: footer.pairs(),
        ..day_metadata(day, &json).ok_or_else(|| DayError::Skip("not a day directory".into()))?
    };
    let window = Window {
        start_ms: meta.window_start_ms,
        end_ms: meta.window_end_ms,
        samples,
    };
    encode_window(&schema, profile, &window, &meta).map_err(|e| {
        DayError::Fatal(Error::Check(format!(
            "{}: encoding the daily file: {e}",
            day.dir
        )))
    })
}

/// The health daily file: every input's rows, in order, as one row group (a row group
/// per window made its footer ~100 KB, which a report reading footers alone would fetch
/// for every day).
pub(super) fn rewrite_health(
    day: &DayDir,
    inputs: &[&Input],
    footer: &Footer<'_>,
) -> Result<Vec<u8>, DayError> {
    let mut rows = Vec::new();
    for i in inputs {
        rows.extend_from_slice(i.health_rows().map_err(DayError::Skip)?);
    }
    HealthRow::encode_rows(&rows, daily_key_values(day, inputs, footer)).map_err(|e| {
        DayError::Fatal(Error::Check(format!(
            "{}: encoding the daily file: {e}",
            day.dir
        )))
    })
}
