//! The CLI's configuration parsing: its flag parsers and the credentials file parser
//! turn any text into a value or an error naming the field, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let mut next = || parts.next().unwrap_or("");
    let _ = lakenode_cli::parse_duration(next());
    let _ = lakenode_cli::parse_size(next());
    let _ = lakenode_cli::credentials::parse(&text, "default");
});
