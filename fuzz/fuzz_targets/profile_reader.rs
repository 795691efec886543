//! Profile file bytes through the TOML parser, TOML/JSON round trips and every export.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim_profiles::fuzzing::check_profile_toml(data);
});
