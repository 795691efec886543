//! Malformed server replies for `garbage-after-x224`, reproducible from a seed, and the
//! seeded PRNG behind them (also used by rdpshim's stable network fuzzer).
//!
//! Every payload is complete in itself: after sending it the server closes the connection,
//! so a client that waits for more bytes sees end-of-stream rather than hanging.

/// SplitMix64: tiny, good enough, and stable across platforms and versions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

/// The kinds of garbage, in the order the seed selects them (`seed % KINDS.len()`).
pub const KINDS: &[&str] = &[
    "random-bytes",
    "tpkt-random-body",
    "x224-data-random-mcs",
    "truncated-connect-response",
    "tpkt-length-too-small",
    "tpkt-length-overrun",
    "fastpath-random",
    "mcs-connect-response-bad-ber",
    "disconnect-ultimatum-then-random",
    "tls-plaintext-looking-record",
];

/// (kind name, bytes to send) for this seed.
pub fn payload(seed: u64) -> (&'static str, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let index = usize::try_from(seed % u64::try_from(KINDS.len()).unwrap_or(1)).unwrap_or(0);
    let kind = KINDS[index];
    let bytes = match index {
        // Anything at all, up to 4 KiB.
        0 => {
            let len = 1 + rng.below(4096);
            rng.bytes(len)
        }
        // A well-formed TPKT header around a random body.
        1 => {
            let body_len = rng.below(2000);
            let mut v = tpkt(body_len);
            v.extend(rng.bytes(body_len));
            v
        }
        // TPKT + X.224 Data TPDU (02 F0 80) around random "MCS".
        2 => {
            let body_len = rng.below(1000);
            let mut v = tpkt(3 + body_len);
            v.extend_from_slice(&[0x02, 0xF0, 0x80]);
            v.extend(rng.bytes(body_len));
            v
        }
        // The start of a real MCS Connect-Response (BER APPLICATION 102), cut short but with
        // a TPKT length that matches what is sent.
        3 => {
            let mut mcs = vec![
                0x7F, 0x66, 0x82, 0x01, 0x40, 0x0A, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x1A,
            ];
            let extra = rng.below(24);
            mcs.extend(rng.bytes(extra));
            let mut v = tpkt(3 + mcs.len());
            v.extend_from_slice(&[0x02, 0xF0, 0x80]);
            v.extend(mcs);
            v
        }
        // TPKT length smaller than the TPKT header itself (0..3).
        4 => {
            let len = u8::try_from(rng.below(4)).unwrap_or(0);
            let mut v = vec![0x03, 0x00, 0x00, len];
            let extra = rng.below(64);
            v.extend(rng.bytes(extra));
            v
        }
        // TPKT claims more bytes than follow; then the connection closes.
        5 => {
            let claimed = 100 + rng.below(60000);
            let mut v = tpkt(claimed);
            let sent = rng.below(claimed.min(200));
            v.extend(rng.bytes(sent));
            v
        }
        // A fast-path header (action 0) with a random length and random updates.
        6 => {
            let body_len = rng.below(3000);
            let total = body_len + 3;
            let mut v = vec![
                0x00,
                0x80 | ((total >> 8) & 0x7F) as u8,
                (total & 0xFF) as u8,
            ];
            v.extend(rng.bytes(body_len));
            v
        }
        // BER Connect-Response whose inner length is absurd (0x84 FF FF FF FF).
        7 => {
            let mut mcs = vec![0x7F, 0x66, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x0A, 0x01, 0x00];
            let extra = rng.below(64);
            mcs.extend(rng.bytes(extra));
            let mut v = tpkt(3 + mcs.len());
            v.extend_from_slice(&[0x02, 0xF0, 0x80]);
            v.extend(mcs);
            v
        }
        // A valid MCS Disconnect Provider Ultimatum (rn-user-requested), then junk.
        8 => {
            let mut v = vec![0x03, 0x00, 0x00, 0x09, 0x02, 0xF0, 0x80, 0x21, 0x80];
            let extra = 1 + rng.below(256);
            v.extend(rng.bytes(extra));
            v
        }
        // Bytes that look like a TLS record (content type 0x17, version 3.3) inside TLS.
        _ => {
            let body_len = rng.below(500);
            let mut v = vec![
                0x17,
                0x03,
                0x03,
                (body_len >> 8) as u8,
                (body_len & 0xFF) as u8,
            ];
            v.extend(rng.bytes(body_len));
            v
        }
    };
    (kind, bytes)
}

fn tpkt(payload_len: usize) -> Vec<u8> {
    let total = u16::try_from(payload_len + 4).unwrap_or(u16::MAX);
    let [hi, lo] = total.to_be_bytes();
    vec![0x03, 0x00, hi, lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        for seed in 0..50 {
            assert_eq!(payload(seed), payload(seed));
            assert!(!payload(seed).1.is_empty());
        }
    }

    #[test]
    fn every_kind_is_reachable() {
        let kinds: std::collections::BTreeSet<_> = (0..u64::try_from(KINDS.len()).unwrap_or(0))
            .map(|s| payload(s).0)
            .collect();
        assert_eq!(kinds.len(), KINDS.len());
    }
}
