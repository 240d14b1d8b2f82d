//! The spool entry decoder takes any bytes (a damaged or hostile file in the spool):
//! it returns key and body or a reason, never panics, and whatever it accepts
//! re-encodes to exactly the same bytes (nothing is accepted that was not written so).
#![no_main]
use lakenode::fuzzing::{decode_entry, encode_entry};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((key, body)) = decode_entry(data) {
        let again = encode_entry(&key, &body).expect("a decoded entry re-encodes");
        assert_eq!(again, data, "accepted bytes that do not re-encode to themselves");
    }
    // And the other way: any key/body pair round-trips.
    if data.len() > 2 {
        let (k, b) = data.split_at(usize::from(data[0]).min(data.len()));
        if let Ok(key) = std::str::from_utf8(k) {
            let bytes = encode_entry(key, b).expect("small entries encode");
            assert_eq!(decode_entry(&bytes), Ok((key.to_owned(), b.to_vec())));
        }
    }
});
