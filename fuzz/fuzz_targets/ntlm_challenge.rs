//! NTLM CHALLENGE bytes through the NLA probe's reader (names within the message).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim::fuzzing::ntlm_challenge(data);
});
