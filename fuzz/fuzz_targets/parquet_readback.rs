//! Parquet read-back and `inspect` take any bytes (a damaged or hostile file in the
//! lake): they return rows or an error, never panic, and never allocate from a count
//! the file claims (libFuzzer's -malloc_limit_mb catches that). Seeds: real lakenode
//! files of both profiles (`scripts/fuzz.sh` writes them with `lakenode encode`).
#![no_main]
use lakenode_cli::commands::inspect::describe;
use lakenode_cli::readback;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(file) = readback::open(data.to_vec()) {
        let _ = describe("fuzz.parquet", &file);
        if let Ok(rows) = file.samples() {
            let mut n = 0_u64;
            for r in rows {
                if r.is_err() {
                    break;
                }
                n += 1;
            }
            assert!(n <= file.rows(), "more rows than the footer declares");
        }
    }
});
