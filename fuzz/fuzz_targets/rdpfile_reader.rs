//! `.rdp` bytes through decode, parse, every re-encoding, import, export and re-import.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim_profiles::fuzzing::check_rdpfile(data);
});
