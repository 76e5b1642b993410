//! `moby/term`'s escape proxy: on a TTY session, the key sequence ctrl-p
//! ctrl-q detaches instead of reaching the container. A partial match is
//! held back until the next key shows whether it completes the sequence.

/// docker's default detach keys.
const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

#[derive(Debug, Default)]
pub struct EscapeProxy {
    /// How many keys of the sequence were seen last.
    matched: usize,
}

impl EscapeProxy {
    /// The bytes to pass on for this input, and whether it completed the
    /// detach sequence (nothing after it is passed on).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == DETACH_KEYS[self.matched] {
                self.matched += 1;
                if self.matched == DETACH_KEYS.len() {
                    return (out, true);
                }
                continue;
            }
            // Not the sequence after all: release what was held back.
            out.extend_from_slice(&DETACH_KEYS[..self.matched]);
            self.matched = 0;
            if b == DETACH_KEYS[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detaches_on_the_sequence_even_split() {
        let mut p = EscapeProxy::default();
        assert_eq!(p.feed(b"ls\r\x10"), (b"ls\r".to_vec(), false));
        assert_eq!(p.feed(b"\x11rest"), (Vec::new(), true));
        let mut p = EscapeProxy::default();
        assert_eq!(p.feed(b"a\x10\x11b"), (b"a".to_vec(), true));
    }

    #[test]
    fn partial_matches_are_released() {
        let mut p = EscapeProxy::default();
        assert_eq!(p.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        assert_eq!(p.feed(b"\x10"), (Vec::new(), false));
        assert_eq!(p.feed(b"\x10\x11"), (b"\x10".to_vec(), true));
    }
}
