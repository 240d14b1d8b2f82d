//! Node health: one row per window, written as its own small Parquet file into a
//! sibling tree of the data, so that data queries (`station=*/**/*.parquet`) never see
//! it:
//!
//! ```text
//! [prefix/]health/station=<id>/year=YYYY/month=MM/day=DD/health_HHMM[_HHMMSS].parquet
//! ```
//!
//! ```
//! use lakenode::health::{HealthRow, health_key_for};
//! let data = "station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=01/data_0000.parquet";
//! let key = health_key_for(None, data);
//! assert_eq!(key, "health/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=01/health_0000.parquet");
//! let bytes = HealthRow::new(1_767_226_500_000).encode()?;
//! assert!(bytes.starts_with(b"PAR1"));
//! # Ok::<(), lakenode::Error>(())
//! ```
//!
//! The rows are decoded here too ([`HealthRow::from_row`], feature `read`), next to the
//! encoder and from the same column names, so that a reader (`lakenode report`) cannot
//! drift from what nodes write. Columns are only ever added at the end; a file from
//! before a column existed decodes with `None` there (`clock_steps`).

use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::layout::Prefix;
pub use crate::layout::Tree;
use crate::sensors::SensorHealth;
#[cfg(any(feature = "read", test))]
use crate::sensors::SensorState;
use crate::{Error, Result};

/// One health row: how the node was doing when a window closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    /// The end (exclusive) of the window the row describes, ms UTC: when it closed.
    pub timestamp_ms: i64,
    /// Seconds since boot (or process start on a host).
    pub uptime_s: i64,
    /// Free heap bytes now (device only).
    pub free_heap: Option<i64>,
    /// Lowest free heap since boot (device only).
    pub min_free_heap: Option<i64>,
    /// WiFi signal strength, dBm (device only).
    pub wifi_rssi: Option<i32>,
    /// Files waiting in the spool.
    pub spool_files: i64,
    /// Their bytes.
    pub spool_bytes: i64,
    /// Files dropped because the spool was full, since it was created.
    pub dropped_files: i64,
    /// Failed upload attempts since the station was opened (boot, or process start).
    pub upload_failures: i64,
    /// Why the node last restarted (`poweron`, `brownout`, `watchdog`, `panic`, `host`...).
    pub reset_reason: String,
    /// The BME280's state, if the node has one.
    pub bme280: Option<SensorHealth>,
    /// The SCD4x's state.
    pub scd4x: Option<SensorHealth>,
    /// The PMS5003's state.
    pub pms5003: Option<SensorHealth>,
    /// Steps of the wall clock (an NTP step, a clock set by hand) seen since the
    /// station was opened; `None` in files written before the column existed.
    pub clock_steps: Option<i64>,
}

impl HealthRow {
    /// A row at `timestamp_ms` with everything else empty.
    #[must_use]
    pub fn new(timestamp_ms: i64) -> Self {
        Self {
            timestamp_ms,
            uptime_s: 0,
            free_heap: None,
            min_free_heap: None,
            wifi_rssi: None,
            spool_files: 0,
            spool_bytes: 0,
            dropped_files: 0,
            upload_failures: 0,
            reset_reason: String::new(),
            bme280: None,
            scd4x: None,
            pms5003: None,
            clock_steps: None,
        }
    }

    /// Encodes the row as a one-row Snappy Parquet file.
    ///
    /// # Errors
    /// [`Error::Parquet`] if writing fails (not expected).
    pub fn encode(&self) -> Result<Vec<u8>> {
        Self::encode_rows(std::slice::from_ref(self), Vec::new())
    }

    /// Encodes `rows` as one Snappy Parquet file of one row group, in this order, with
    /// `key_values` in the footer (a compacted day: one row group keeps the footer
    /// small, where a row group per window made it ~100 KB).
    ///
    /// # Errors
    /// [`Error::Parquet`] if writing fails (not expected).
    pub fn encode_rows(
        rows: &[Self],
        key_values: Vec<parquet::file::metadata::KeyValue>,
    ) -> Result<Vec<u8>> {
        let int64 = |name: &str, rep| {
            Type::primitive_type_builder(name, PhysicalType::INT64)
                .with_repetition(rep)
                .build()
        };
        let text = |name: &str| {
            Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(Some(LogicalType::String))
                .build()
        };
        let fields = vec![
            Type::primitive_type_builder("timestamp", PhysicalType::INT64)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MILLIS)))
                .build()?,
            int64("uptime_s", Repetition::REQUIRED)?,
            int64("free_heap", Repetition::OPTIONAL)?,
            int64("min_free_heap", Repetition::OPTIONAL)?,
            Type::primitive_type_builder("wifi_rssi", PhysicalType::INT32)
                .with_repetition(Repetition::OPTIONAL)
                .build()?,
            int64("spool_files", Repetition::REQUIRED)?,
            int64("spool_bytes", Repetition::REQUIRED)?,
            int64("dropped_files", Repetition::REQUIRED)?,
            int64("upload_failures", Repetition::REQUIRED)?,
            text("reset_reason")?,
            text("bme280")?,
            int64("bme280_failures", Repetition::OPTIONAL)?,
            text("scd4x")?,
            int64("scd4x_failures", Repetition::OPTIONAL)?,
            text("pms5003")?,
            int64("pms5003_failures", Repetition::OPTIONAL)?,
            int64("clock_steps", Repetition::OPTIONAL)?,
        ];
        let schema = Arc::new(
            Type::group_type_builder("lakenode_health")
                .with_fields(fields.into_iter().map(Arc::new).collect())
                .build()?,
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_key_value_metadata((!key_values.is_empty()).then_some(key_values))
            .build();
        let mut writer =
            SerializedFileWriter::new(Vec::with_capacity(2048), schema, Arc::new(props))?;
        let mut rg = writer.next_row_group()?;
        let mut column = |write: &mut dyn FnMut(
            &mut parquet::file::writer::SerializedColumnWriter<'_>,
        ) -> Result<()>|
         -> Result<()> {
            let mut c = rg.next_column()?.ok_or_else(|| {
                Error::Parquet(parquet::errors::ParquetError::General(
                    "health schema".into(),
                ))
            })?;
            write(&mut c)?;
            c.close()?;
            Ok(())
        };
        let all = |f: &dyn Fn(&Self) -> i64| rows.iter().map(f).collect::<Vec<_>>();
        let opt = |f: &dyn Fn(&Self) -> Option<i64>| rows.iter().map(f).collect::<Vec<_>>();
        column(&mut |c| put::<Int64Type>(c, &all(&|r| r.timestamp_ms)))?;
        column(&mut |c| put::<Int64Type>(c, &all(&|r| r.uptime_s)))?;
        column(&mut |c| put_opt::<Int64Type>(c, &opt(&|r| r.free_heap)))?;
        column(&mut |c| put_opt::<Int64Type>(c, &opt(&|r| r.min_free_heap)))?;
        let rssi: Vec<Option<i32>> = rows.iter().map(|r| r.wifi_rssi).collect();
        column(&mut |c| put_opt::<Int32Type>(c, &rssi))?;
        column(&mut |c| put::<Int64Type>(c, &all(&|r| r.spool_files)))?;
        column(&mut |c| put::<Int64Type>(c, &all(&|r| r.spool_bytes)))?;
        column(&mut |c| put::<Int64Type>(c, &all(&|r| r.dropped_files)))?;
        column(&mut |c| put::<Int64Type>(c, &all(&|r| r.upload_failures)))?;
        let reason: Vec<Option<ByteArray>> = rows
            .iter()
            .map(|r| (!r.reset_reason.is_empty()).then(|| ByteArray::from(r.reset_reason.as_str())))
            .collect();
        column(&mut |c| put_opt::<ByteArrayType>(c, &reason))?;
        let sensors: [fn(&Self) -> Option<SensorHealth>; 3] =
            [|r| r.bme280, |r| r.scd4x, |r| r.pms5003];
        for sensor in sensors {
            let state: Vec<Option<ByteArray>> = rows
                .iter()
                .map(|r| sensor(r).map(|h| ByteArray::from(h.state.name())))
                .collect();
            column(&mut |c| put_opt::<ByteArrayType>(c, &state))?;
            let failures = opt(&|r| sensor(r).map(|h| i64::from(h.failures)));
            column(&mut |c| put_opt::<Int64Type>(c, &failures))?;
        }
        column(&mut |c| put_opt::<Int64Type>(c, &opt(&|r| r.clock_steps)))?;
        rg.close()?;
        Ok(writer.into_inner()?)
    }
}

#[cfg(any(feature = "read", test))]
impl HealthRow {
    /// Decodes one row of a health file (the parquet crate's generic row: how a
    /// checked reader hands rows out), by column name. Every column [`HealthRow::encode`]
    /// writes must be there with its type, except `clock_steps`, absent from files
    /// written before it existed; columns this version does not know are ignored.
    ///
    /// # Errors
    /// [`Error::Format`] naming the column that is missing, null where required, of
    /// another type or out of range (a sensor state lakenode does not write, a failure
    /// count without a state).
    pub fn from_row(row: &parquet::record::Row) -> Result<Self> {
        use parquet::record::Field;
        let bad = |name: &str, why: &str| Error::format("health row", format!("`{name}` {why}"));
        let get = |name: &'static str| {
            row.get_column_iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, f)| f)
        };
        let field = |name: &'static str| get(name).ok_or_else(|| bad(name, "is missing"));
        let long = |name: &'static str| match field(name)? {
            Field::Long(v) => Ok(Some(*v)),
            Field::Null => Ok(None),
            _ => Err(bad(name, "is not an INT64")),
        };
        let required = |name: &'static str| long(name)?.ok_or_else(|| bad(name, "is null"));
        let text = |name: &'static str| match field(name)? {
            Field::Str(v) => Ok(Some(v.clone())),
            Field::Null => Ok(None),
            _ => Err(bad(name, "is not a string")),
        };
        let sensor =
            |name: &'static str, failures: &'static str| match (text(name)?, long(failures)?) {
                (None, None) => Ok(None),
                (Some(state), Some(count)) => Ok(Some(SensorHealth {
                    state: SensorState::from_name(&state)
                        .ok_or_else(|| bad(name, "is not a sensor state lakenode writes"))?,
                    failures: u32::try_from(count)
                        .map_err(|_| bad(failures, "is not a count of failures"))?,
                })),
                _ => Err(bad(
                    name,
                    "and its failure count are not both set or both null",
                )),
            };
        let timestamp_ms = match field("timestamp")? {
            Field::TimestampMillis(t) => *t,
            _ => return Err(bad("timestamp", "is not a TIMESTAMP(MILLIS)")),
        };
        Ok(Self {
            timestamp_ms,
            uptime_s: required("uptime_s")?,
            free_heap: long("free_heap")?,
            min_free_heap: long("min_free_heap")?,
            wifi_rssi: match field("wifi_rssi")? {
                Field::Int(v) => Some(*v),
                Field::Null => None,
                _ => return Err(bad("wifi_rssi", "is not an INT32")),
            },
            spool_files: required("spool_files")?,
            spool_bytes: required("spool_bytes")?,
            dropped_files: required("dropped_files")?,
            upload_failures: required("upload_failures")?,
            reset_reason: text("reset_reason")?.unwrap_or_default(),
            bme280: sensor("bme280", "bme280_failures")?,
            scd4x: sensor("scd4x", "scd4x_failures")?,
            pms5003: sensor("pms5003", "pms5003_failures")?,
            clock_steps: if get("clock_steps").is_some() {
                long("clock_steps")?
            } else {
                None
            },
        })
    }
}

/// Writes a required value.
fn put<T: DataType>(
    c: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    v: &[T::T],
) -> Result<()> {
    c.typed::<T>().write_batch(v, None, None)?;
    Ok(())
}

/// Writes optional values (definition level 0 for null).
fn put_opt<T: DataType>(
    c: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    v: &[Option<T::T>],
) -> Result<()>
where
    T::T: Clone,
{
    let def: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
    let values: Vec<T::T> = v.iter().flatten().cloned().collect();
    c.typed::<T>().write_batch(&values, Some(&def), None)?;
    Ok(())
}

/// The key of the health file accompanying the data file `data_key` of a station
/// writing under `prefix`: the same partitions and suffix in the sibling health tree, so
/// the two parts of an interrupted window get two health files too.
#[must_use]
pub fn health_key_for(prefix: Option<&Prefix>, data_key: &str) -> String {
    let p = prefix.map_or_else(String::new, |p| format!("{}/", p.as_str()));
    let rest = data_key.strip_prefix(p.as_str()).unwrap_or(data_key);
    format!("{p}health/{}", rest.replacen("/data_", "/health_", 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::StationId;
    use crate::sensors::SensorState;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    #[test]
    fn a_health_row_reads_back_with_nulls_where_unknown() {
        let mut row = HealthRow::new(1_767_226_500_000);
        row.uptime_s = 3600;
        row.free_heap = Some(71_000);
        row.spool_files = 2;
        row.reset_reason = "brownout".into();
        row.scd4x = Some(SensorHealth {
            state: SensorState::Missing,
            failures: 7,
        });
        let bytes = row.encode().expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("parquet");
        let r = reader
            .get_row_iter(None)
            .expect("rows")
            .next()
            .expect("one row")
            .expect("row");
        let f: Vec<(String, Field)> = r
            .get_column_iter()
            .map(|(n, f)| (n.clone(), f.clone()))
            .collect();
        let get = |name: &str| {
            f.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .expect(name)
        };
        assert_eq!(get("timestamp"), Field::TimestampMillis(1_767_226_500_000));
        assert_eq!(get("free_heap"), Field::Long(71_000));
        assert_eq!(get("min_free_heap"), Field::Null);
        assert_eq!(get("reset_reason"), Field::Str("brownout".into()));
        assert_eq!(get("scd4x"), Field::Str("missing".into()));
        assert_eq!(get("scd4x_failures"), Field::Long(7));
        assert_eq!(get("bme280"), Field::Null);
        assert_eq!(get("clock_steps"), Field::Null);
        row.clock_steps = Some(2);
        let bytes = row.encode().expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("parquet");
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        assert_eq!(
            names.last().map(String::as_str),
            Some("clock_steps"),
            "added at the end"
        );
    }

    /// A full row for the round trip: every column set, sensors in each state.
    #[cfg(any(feature = "read", test))]
    fn full_row() -> HealthRow {
        HealthRow {
            timestamp_ms: 1_767_226_500_000,
            uptime_s: 3_600,
            free_heap: Some(71_000),
            min_free_heap: Some(65_000),
            wifi_rssi: Some(-67),
            spool_files: 2,
            spool_bytes: 4_096,
            dropped_files: 1,
            upload_failures: 5,
            reset_reason: "brownout".into(),
            bme280: Some(SensorHealth {
                state: SensorState::Ok,
                failures: 0,
            }),
            scd4x: Some(SensorHealth {
                state: SensorState::Missing,
                failures: 7,
            }),
            pms5003: Some(SensorHealth {
                state: SensorState::Failing,
                failures: u32::MAX,
            }),
            clock_steps: Some(3),
        }
    }

    #[cfg(any(feature = "read", test))]
    fn decode_all(bytes: Vec<u8>) -> Vec<HealthRow> {
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("parquet");
        reader
            .get_row_iter(None)
            .expect("rows")
            .map(|r| HealthRow::from_row(&r.expect("row")).expect("a health row"))
            .collect()
    }

    /// encode -> Parquet bytes -> decode gives the rows back, nulls included.
    #[cfg(any(feature = "read", test))]
    #[test]
    fn health_rows_round_trip_through_parquet() {
        let mut sparse = HealthRow::new(1_767_226_500_000);
        sparse.uptime_s = 12;
        sparse.bme280 = Some(SensorHealth::default());
        for row in [full_row(), sparse, HealthRow::new(0)] {
            let bytes = row.encode().expect("encodes");
            assert_eq!(decode_all(bytes), vec![row.clone()]);
        }
    }

    /// A file written before `clock_steps` existed decodes with `None` there; a row
    /// missing any other column, or holding what no node writes, is refused by name.
    #[cfg(any(feature = "read", test))]
    #[test]
    fn older_rows_decode_and_foreign_ones_are_refused() {
        use parquet::record::{Field, Row};
        let bytes = full_row().encode().expect("encodes");
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("parquet");
        let row = reader
            .get_row_iter(None)
            .expect("rows")
            .next()
            .expect("one")
            .expect("row");
        let columns: Vec<(String, Field)> = row
            .get_column_iter()
            .map(|(n, f)| (n.clone(), f.clone()))
            .collect();
        let without =
            |name: &str| Row::new(columns.iter().filter(|(n, _)| n != name).cloned().collect());
        let with = |name: &str, value: Field| {
            Row::new(
                columns
                    .iter()
                    .map(|(n, f)| (n.clone(), if n == name { value.clone() } else { f.clone() }))
                    .collect(),
            )
        };
        let old = HealthRow::from_row(&without("clock_steps")).expect("an older row");
        assert_eq!(
            old,
            HealthRow {
                clock_steps: None,
                ..full_row()
            }
        );
        let mut extra = columns.clone();
        extra.push(("added_later".into(), Field::Long(1)));
        assert_eq!(
            HealthRow::from_row(&Row::new(extra)).expect("newer"),
            full_row()
        );
        for (row, column) in [
            (without("uptime_s"), "uptime_s"),
            (without("bme280_failures"), "bme280_failures"),
            (with("uptime_s", Field::Null), "uptime_s"),
            (with("timestamp", Field::Long(1)), "timestamp"),
            (with("wifi_rssi", Field::Long(1)), "wifi_rssi"),
            (with("scd4x", Field::Str("asleep".into())), "scd4x"),
            (with("scd4x", Field::Null), "scd4x"),
            (
                with("pms5003_failures", Field::Long(-1)),
                "pms5003_failures",
            ),
            (with("reset_reason", Field::Long(1)), "reset_reason"),
            (with("clock_steps", Field::Str("2".into())), "clock_steps"),
        ] {
            let e = HealthRow::from_row(&row).expect_err(column).to_string();
            assert!(e.contains(&format!("`{column}`")), "{column}: {e}");
        }
    }

    #[test]
    fn health_lives_outside_the_data_tree() {
        let st = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id");
        let p = Prefix::new("lake").expect("prefix");
        let t = 1_767_225_600_000 + 45 * 60_000;
        let window = crate::window::Window {
            start_ms: t,
            end_ms: t + 900_000,
            samples: vec![crate::sample::Sample::new(t)],
        };
        let data = crate::layout::ObjectKey::for_window(Some(&p), &st, &window);
        let k = health_key_for(Some(&p), data.as_str());
        assert_eq!(
            k,
            "lake/health/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=01/health_0045.parquet"
        );
        assert!(!k.starts_with("lake/station="));
        let data = data.as_str();
        let late = data.replace("data_0045", "data_0045_005001042");
        assert!(health_key_for(Some(&p), &late).ends_with("/health_0045_005001042.parquet"));
    }
}
