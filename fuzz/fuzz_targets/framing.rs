//! Server bytes through the capped framing: sizes within each kind's caps, frames read back to back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim::fuzzing::framing(data);
});
