//! Certificate DER through the summary (pinning facts, diagnose details, self-signed check).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rdpshim::fuzzing::certificate(data);
});
