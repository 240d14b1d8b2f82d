//! The PMS5003 frame decoder takes any byte stream; decoded values are only what a
//! frame with a valid checksum said.
#![no_main]
use lakenode::sensors::pms5003::{FRAME_LEN, FrameDecoder, decode};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    for &b in data {
        let _ = decoder.push(b);
    }
    if let Ok(frame) = <[u8; FRAME_LEN]>::try_from(data.get(..FRAME_LEN).unwrap_or(&[])) {
        let _ = decode(&frame);
    }
});
