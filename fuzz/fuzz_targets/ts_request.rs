//! A server's TSRequest through the capped DER framing and the decoding down to the NTLM CHALLENGE.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim::fuzzing::ts_request(data);
});
