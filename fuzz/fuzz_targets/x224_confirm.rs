//! X.224 Connection Confirm bytes through diagnose's decoder and the engine's check (one requested protocol).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim::fuzzing::x224_confirm(data);
});
