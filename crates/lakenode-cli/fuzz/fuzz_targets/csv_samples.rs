//! The CSV sample reader must turn any bytes into samples or an error, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = lakenode_cli::csv_input::read_samples("fuzz.csv", data);
});
