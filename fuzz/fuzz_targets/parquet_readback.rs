//! Parquet read-back and `inspect` take any bytes (a damaged or hostile file in the
//! lake): they return rows or an error, never panic, and never allocate from a count
//! the file claims (libFuzzer's -malloc_limit_mb catches that). Seeds: real lakenode
//! files of both profiles (`scripts/fuzz.sh` writes them with `lakenode encode`).
//! The column-wise reader (`for_each_batch`, used by `report`) must agree with the row
//! reader: the same samples when both succeed, and no samples when the row reader fails
//! where it would have succeeded.
#![no_main]
use lakenode_lake::inspect::describe;
use lakenode_lake::readback;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(file) = readback::open(data.to_vec()) {
        let _ = describe("fuzz.parquet", &file);
        let by_rows: Option<Result<Vec<_>, _>> = file.samples().ok().map(|rows| rows.collect());
        if let Some(Ok(rows)) = &by_rows {
            assert!(rows.len() as u64 <= file.rows(), "more rows than the footer declares");
        }
        let mut by_columns = Vec::new();
        let columnar = file.for_each_batch(|batch| by_columns.extend_from_slice(batch));
        if let (Some(Ok(rows)), Ok(n)) = (&by_rows, &columnar) {
            assert_eq!(*n as usize, by_columns.len());
            assert_eq!(rows, &by_columns, "the column and row readers disagree");
        }
    }
});
