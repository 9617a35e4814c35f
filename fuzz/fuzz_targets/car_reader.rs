//! Any bytes as a CAR file: the reader returns blocks or a typed error, never panics or
//! allocates without bound.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lsync_core::chain::{read_chain_headers, CarReader};

fuzz_target!(|data: &[u8]| {
    if let Ok(mut car) = CarReader::new(data) {
        while let Ok(Some(_)) = car.next_block() {}
    }
    let _ = read_chain_headers(data);
});
