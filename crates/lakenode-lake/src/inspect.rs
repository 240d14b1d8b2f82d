//! `lakenode inspect`: what is in a Parquet file, for people checking what a node wrote.
//! Here, beside the reader, so that the fuzz target that feeds the reader hostile files
//! checks the description of them too.

use std::fmt::Write as _;

use lakenode::layout::rfc3339;
use lakenode::schema::Measurement;
use parquet::basic::{LogicalType, TimeUnit};
use parquet::schema::types::ColumnDescriptor;

use crate::readback::{LakeFile, ReadError};

/// The report for a validated file. Rows are streamed for the time range, so a file
/// of any length is described in constant memory.
///
/// # Errors
/// [`ReadError`] if a page is damaged.
pub fn describe(name: &str, file: &LakeFile) -> Result<String, ReadError> {
    let size = file.size();
    let footer_len = file.footer_len();
    let md = file.metadata();
    let fmd = md.file_metadata();
    let mut out = String::new();
    let _ = writeln!(out, "file        {name}");
    let _ = writeln!(out, "size        {size} bytes (footer {footer_len} bytes)");
    let _ = writeln!(out, "created by  {}", fmd.created_by().unwrap_or("?"));
    let _ = writeln!(out, "rows        {}", fmd.num_rows());
    let _ = writeln!(out, "row groups  {}", md.num_row_groups());
    // One pass over the rows: the time range, and the null counts the footer lacks
    // (lakenode keeps statistics on `timestamp` only).
    let counted = count_rows(file)?;
    let counted_nulls = counted.as_ref().ok().map(|(_, nulls)| nulls);
    // Each column's resolution and unit, as the footer's `lakenode` JSON states them.
    let units = fmd
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
        })
        .and_then(|pairs| lakenode::encode::FileMetadata::from_key_values(&pairs).ok())
        .map(|meta| meta.units)
        .unwrap_or_default();
    let _ = writeln!(out, "\nschema");
    for c in fmd.schema_descr().columns() {
        let unit = units
            .iter()
            .find(|(name, _)| name == c.name())
            .map_or_else(String::new, |(_, u)| format!("  [{u}]"));
        let _ = writeln!(out, "  {:<12} {}{unit}", c.name(), type_text(c));
    }
    for (i, rg) in md.row_groups().iter().enumerate() {
        let _ = writeln!(
            out,
            "\nrow group {i}: {} rows, {} bytes compressed, {} uncompressed",
            rg.num_rows(),
            rg.compressed_size(),
            rg.total_byte_size()
        );
        let _ = writeln!(
            out,
            "  {:<12} {:<10} {:>10} {:>12} {:>6}  encodings",
            "column", "codec", "compressed", "uncompressed", "nulls"
        );
        for (j, c) in rg.columns().iter().enumerate() {
            let encodings: Vec<String> = c.encodings().map(|e| format!("{e:?}")).collect();
            let nulls = c
                .statistics()
                .and_then(parquet::file::statistics::Statistics::null_count_opt)
                .or_else(|| counted_nulls.and_then(|n| n.get(i)?.get(j).copied()))
                .map_or_else(|| "-".into(), |n| n.to_string());
            let _ = writeln!(
                out,
                "  {:<12} {:<10} {:>10} {:>12} {:>6}  {}",
                c.column_descr().name(),
                format!("{:?}", c.compression()),
                c.compressed_size(),
                c.uncompressed_size(),
                nulls,
                encodings.join(",")
            );
        }
    }
    if let Some(kv) = fmd.key_value_metadata() {
        let _ = writeln!(out, "\nkey/value metadata");
        for e in kv {
            let value = e.value.as_deref().unwrap_or("");
            // Foreign writers embed whole schemas here; keep the report readable.
            let shown = if value.len() > 400 {
                format!(
                    "{}... ({} bytes)",
                    &value[..value.floor_char_boundary(400)],
                    value.len()
                )
            } else {
                value.to_owned()
            };
            let _ = writeln!(out, "  {} = {shown}", e.key);
        }
    }
    match counted {
        Ok((Some((first, last)), _)) => {
            let _ = writeln!(
                out,
                "\ntime range  {} .. {} (UTC)",
                rfc3339(first),
                rfc3339(last)
            );
        }
        Ok((None, _)) => {
            let _ = writeln!(out, "\ntime range  (no rows)");
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "\ntime range  unavailable: not a lakenode layout ({e})"
            );
        }
    }
    Ok(out)
}

/// Per row group, each column's nulls (counted from the rows).
type NullCounts = Vec<Vec<u64>>;

/// The first and last timestamps (`None` without rows) and each row group's null
/// counts per column, from one pass of the column reader; the inner `Err` when the file is not
/// in a lakenode layout (nothing to count).
///
/// # Errors
/// [`ReadError`] if a page is damaged.
#[allow(clippy::type_complexity)]
fn count_rows(
    file: &LakeFile,
) -> Result<Result<(Option<(i64, i64)>, NullCounts), ReadError>, ReadError> {
    let md = file.metadata();
    let columns: Vec<Option<Measurement>> = md
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| Measurement::from_name(c.name()))
        .collect();
    let mut nulls: NullCounts = vec![vec![0; columns.len()]; md.num_row_groups()];
    let mut group_end: Vec<i64> = Vec::with_capacity(md.num_row_groups());
    let mut total = 0i64;
    for rg in md.row_groups() {
        total = total.saturating_add(rg.num_rows());
        group_end.push(total);
    }
    let (mut group, mut row) = (0usize, 0i64);
    let mut range: Option<(i64, i64)> = None;
    if let Err(e) = file.check_schema() {
        return Ok(Err(e));
    }
    file.for_each_batch(|batch| {
        for s in batch {
            let t = s.timestamp_ms;
            range = Some(range.map_or((t, t), |(first, _)| (first, t)));
            while group_end.get(group).is_some_and(|&end| row >= end) {
                group += 1;
            }
            if let Some(counts) = nulls.get_mut(group) {
                for (n, m) in counts.iter_mut().zip(&columns) {
                    if let Some(m) = m
                        && s.value(*m).is_none()
                    {
                        *n += 1;
                    }
                }
            }
            row += 1;
        }
    })?;
    Ok(Ok((range, nulls)))
}

fn type_text(c: &ColumnDescriptor) -> String {
    let mut t = format!("{}", c.physical_type());
    match c.logical_type_ref() {
        Some(LogicalType::Timestamp(ts)) => {
            let unit = match ts.unit {
                TimeUnit::MILLIS => "MILLIS",
                TimeUnit::MICROS => "MICROS",
                TimeUnit::NANOS => "NANOS",
            };
            let zone = if ts.is_adjusted_to_u_t_c {
                "UTC"
            } else {
                "local"
            };
            let _ = write!(t, " TIMESTAMP({unit}, {zone})");
        }
        Some(l) => {
            let _ = write!(t, " {l:?}");
        }
        None => {}
    }
    let rep = if c.self_type().is_optional() {
        "nullable"
    } else {
        "required"
    };
    format!("{t} {rep}")
}
