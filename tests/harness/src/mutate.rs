//! The byte-level mutations the stable-toolchain fuzzers share (the profile readers'
//! `profiles/tests/fuzz_stable.rs`, the network parsers' `tests/integration/fuzz_network.rs`):
//! each adds its format-aware ones (tokens, lengths fixed up, decoded text) around these.

/// One of the shared mutations of `data`, chosen by `pick`:
///
/// 0. flip one bit; 1. set one byte; 2. insert up to 16 random bytes; 3. delete a run of up
///    to 64 bytes; 4. copy a run of up to 256 bytes elsewhere; 5. splice in a run of up to
///    512 bytes of another input of `pool`.
///
/// `below(n)` draws from `0..n` (the caller's seeded generator). `false` when `pick` names
/// none of them or `data` is too short for it: the caller's own mutations, then.
pub fn mutate_bytes(
    data: &mut Vec<u8>,
    pick: usize,
    pool: &[Vec<u8>],
    below: &mut dyn FnMut(usize) -> usize,
) -> bool {
    let len = data.len();
    match pick {
        0 if len > 0 => {
            let i = below(len);
            data[i] ^= 1 << below(8);
        }
        1 if len > 0 => {
            let i = below(len);
            data[i] = random_byte(below);
        }
        2 => {
            let at = below(len + 1);
            let bytes: Vec<u8> = (0..1 + below(16)).map(|_| random_byte(below)).collect();
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let i = below(len);
            let n = 1 + below((len - i).min(64));
            data.drain(i..i + n);
        }
        4 if len > 0 => {
            let i = below(len);
            let n = 1 + below((len - i).min(256));
            let chunk = data[i..i + n].to_vec();
            let at = below(len + 1);
            data.splice(at..at, chunk);
        }
        5 if !pool.is_empty() => {
            let other = &pool[below(pool.len())];
            if other.is_empty() {
                return false;
            }
            let i = below(other.len());
            let n = 1 + below((other.len() - i).min(512));
            let at = below(len + 1);
            data.splice(at..at, other[i..i + n].iter().copied());
        }
        _ => return false,
    }
    true
}

fn random_byte(below: &mut dyn FnMut(usize) -> usize) -> u8 {
    u8::try_from(below(256)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutation_applies_where_it_can_and_stays_in_bounds() {
        let pool = vec![b"another input".to_vec()];
        let mut state = 7u64;
        let mut below = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n.max(1)
        };
        for pick in 0..8 {
            for input in [&b""[..], b"x", b"a longer input of bytes"] {
                let mut data = input.to_vec();
                let applied = mutate_bytes(&mut data, pick, &pool, &mut below);
                assert_eq!(
                    applied,
                    pick <= 5 && (!input.is_empty() || pick == 2 || pick == 5)
                );
                assert!(data.len() <= input.len() + 512);
            }
        }
    }
}
