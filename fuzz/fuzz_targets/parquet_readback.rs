//! Parquet read-back and `inspect` take any bytes (a damaged or hostile file in the
//! lake): they return samples or an error, never panic, and never allocate from a count
//! the file claims (libFuzzer's -malloc_limit_mb catches that). Seeds: real lakenode
//! files of both profiles (`scripts/fuzz.sh` writes them with `lakenode encode`).
//!
//! The one sample decoder (`for_each_batch`: compaction, `report`, `inspect`) is held to
//! its invariants: batches of 1 to 1,024 samples, as many samples as the footer
//! declares, the same samples when read twice, and samples it accepts from a file in
//! one of lakenode's layouts survive lakenode's writer: re-encoded in that layout and
//! read back, they are the same (FLOAT files: for readings within the sensors' ranges,
//! where f32 is exact at sensor resolution).
#![no_main]
use lakenode::encode::{Encoder, WriterProfile};
use lakenode::schema::Schema;
use lakenode_lake::inspect::describe;
use lakenode_lake::readback::{self, LakeFile};
use parquet::basic::Type as Physical;

fn read_all(file: &LakeFile) -> Result<(Vec<lakenode::Sample>, u64), readback::ReadError> {
    let mut all = Vec::new();
    let n = file.for_each_batch(|batch| {
        assert!(
            !batch.is_empty() && batch.len() <= 1024,
            "a batch of {} samples",
            batch.len()
        );
        all.extend_from_slice(batch);
    })?;
    Ok((all, n))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(file) = readback::open(data.to_vec()) else {
        return;
    };
    let _ = describe("fuzz.parquet", &file);
    let Ok((samples, n)) = read_all(&file) else {
        return;
    };
    assert_eq!(n as usize, samples.len());
    assert_eq!(
        n,
        file.rows(),
        "another number of samples than the footer declares"
    );
    let again = read_all(&file).map(|(s, _)| s);
    assert_eq!(again.as_ref(), Ok(&samples), "a second read differs");

    // The layout: every measurement column FLOAT (compat) or INT32 (compact).
    let descr = file.metadata().file_metadata().schema_descr();
    let physical: Vec<Physical> = descr
        .columns()
        .iter()
        .skip(1)
        .map(|c| c.physical_type())
        .collect();
    let profile = if physical.iter().all(|t| *t == Physical::INT32) {
        WriterProfile::Compact
    } else if physical.iter().all(|t| *t == Physical::FLOAT)
        && samples.iter().all(|s| s.implausible().is_none())
    {
        WriterProfile::Compat
    } else {
        return;
    };
    let Ok(schema) = Schema::new(file.columns().iter().copied()) else {
        return; // a measurement twice: not a layout lakenode writes
    };
    let encoder = Encoder::new(&schema, profile).expect("lakenode's schema");
    let bytes = encoder
        .encode_to(&samples, None, Vec::new())
        .expect("lakenode's writer takes any samples");
    let back = readback::open(bytes).expect("lakenode's own file opens");
    let (round_trip, _) = read_all(&back).expect("lakenode's own file decodes");
    assert_eq!(
        round_trip, samples,
        "the samples read do not survive lakenode's writer"
    );
});
