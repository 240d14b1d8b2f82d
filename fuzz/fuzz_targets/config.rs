//! Configuration parsing: every field validator of the core turns any text into a value
//! or an error naming the field, never a panic (the CLI's own parsers: `cli_config` in
//! crates/lakenode-cli/fuzz).
#![no_main]
use lakenode::layout::{Prefix, StationId};
use lakenode::s3::S3Config;
use lakenode::schema::Schema;
use lakenode::window::WindowSpec;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let mut next = || parts.next().unwrap_or("");
    let (endpoint, bucket, region) = (next(), next(), next());
    let _ = S3Config::new(endpoint, bucket, region, data.first().is_some_and(|b| b & 1 == 1));
    let _ = StationId::new(next());
    let _ = Prefix::new(next());
    let _ = Schema::parse_list(next());
    if let (Ok(i), Ok(w)) = (next().parse::<i64>(), next().parse::<i64>()) {
        let _ = WindowSpec::new(i, w);
    }
});
