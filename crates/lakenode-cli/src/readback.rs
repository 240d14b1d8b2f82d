//! Reading lakenode's Parquet files back with the `parquet` crate's reader: for the
//! demo's end-to-end check and for `inspect`.

use bytes::Bytes;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, TIMESTAMP_COLUMN};
use parquet::data_type::Decimal;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

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

/// Decodes a lakenode file of either profile: `timestamp` then FLOAT (compat) or
/// INT32/DECIMAL (compact) measurement columns, converted back to counts at each
/// sensor's resolution.
///
/// # Errors
/// A message if the bytes are not Parquet or have columns lakenode does not write.
pub fn decode(bytes: Vec<u8>) -> Result<DecodedFile, String> {
    let reader = SerializedFileReader::new(Bytes::from(bytes)).map_err(|e| e.to_string())?;
    let fmd = reader.metadata().file_metadata();
    let descr = fmd.schema_descr();
    let mut columns = Vec::new();
    for (i, c) in descr.columns().iter().enumerate() {
        match (i, c.name()) {
            (0, TIMESTAMP_COLUMN) => {}
            (0, other) => {
                return Err(format!(
                    "first column is `{other}`, expected `{TIMESTAMP_COLUMN}`"
                ));
            }
            (_, name) => columns.push(
                Measurement::from_name(name).ok_or_else(|| format!("unknown column `{name}`"))?,
            ),
        }
    }
    let key_values = fmd
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let mut samples = Vec::with_capacity(usize::try_from(fmd.num_rows()).unwrap_or(0));
    for row in reader.get_row_iter(None).map_err(|e| e.to_string())? {
        let row = row.map_err(|e| e.to_string())?;
        let mut fields = row.get_column_iter();
        let ts = match fields.next() {
            Some((_, Field::TimestampMillis(ms))) => *ms,
            other => return Err(format!("timestamp is not TIMESTAMP(MILLIS): {other:?}")),
        };
        let mut sample = Sample::new(ts);
        for ((_, field), &m) in fields.zip(&columns) {
            match field {
                Field::Null => {}
                Field::Float(v) => sample.set_count(m, Some(to_count(m, f64::from(*v)))),
                Field::Int(v) if m.decimals() == 0 => sample.set_count(m, Some(*v)),
                Field::Decimal(Decimal::Int32 { value, scale, .. })
                    if u32::try_from(*scale).ok() == Some(m.decimals()) =>
                {
                    sample.set_count(m, Some(i32::from_be_bytes(*value)));
                }
                other => return Err(format!("column `{m}` holds {other:?}, not a lakenode type")),
            }
        }
        samples.push(sample);
    }
    Ok(DecodedFile {
        samples,
        columns,
        key_values,
    })
}

/// The count at `m`'s resolution nearest to `value`.
#[allow(clippy::cast_possible_truncation)] // values come from in-range counts
fn to_count(m: Measurement, value: f64) -> i32 {
    (value * f64::from(m.scale())).round() as i32
}
