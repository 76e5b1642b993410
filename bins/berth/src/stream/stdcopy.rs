//! docker's `stdcopy`: the framing of a container's output when it has no
//! TTY. Each frame is an 8-byte header (stream, three zero bytes, big-endian
//! length) and the payload; stream 0 and 1 go to stdout, 2 to stderr, and 3
//! is an error from the daemon that ends the stream.

/// Where a payload goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Stdout,
    Stderr,
}

/// Splits a multiplexed byte stream fed in arbitrary pieces.
#[derive(Debug, Default)]
pub struct Demux {
    pending: Vec<u8>,
}

const HEADER: usize = 8;

impl Demux {
    /// Consumes `data`; `emit` receives each complete payload in order.
    /// Errors are docker's texts for a daemon error frame or a bad header.
    pub fn feed(
        &mut self,
        data: &[u8],
        emit: &mut dyn FnMut(Target, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), String> {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while self.pending.len() - start >= HEADER {
            let header = &self.pending[start..start + HEADER];
            let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let size = usize::try_from(size).map_err(|e| e.to_string())?;
            if self.pending.len() - start - HEADER < size {
                break;
            }
            let payload = &self.pending[start + HEADER..start + HEADER + size];
            match header[0] {
                0 | 1 => emit(Target::Stdout, payload).map_err(|e| e.to_string())?,
                2 => emit(Target::Stderr, payload).map_err(|e| e.to_string())?,
                3 => {
                    return Err(format!(
                        "error from daemon in stream: {}",
                        String::from_utf8_lossy(payload)
                    ))
                }
                other => return Err(format!("Unrecognized input header: {other}")),
            }
            start += HEADER + size;
        }
        self.pending.drain(..start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    type Payloads = Vec<(Target, Vec<u8>)>;

    fn run(pieces: &[&[u8]]) -> (Payloads, Result<(), String>) {
        let mut demux = Demux::default();
        let mut seen = Vec::new();
        let mut result = Ok(());
        for piece in pieces {
            result = demux.feed(piece, &mut |t, p| {
                seen.push((t, p.to_vec()));
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
        (seen, result)
    }

    #[test]
    fn frames_split_anywhere_are_reassembled() {
        let mut bytes = frame(1, b"hello\n");
        bytes.extend(frame(2, b"oops\n"));
        bytes.extend(frame(0, b"in"));
        bytes.extend(frame(1, b""));
        for cut in 0..bytes.len() {
            let (seen, result) = run(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(result, Ok(()));
            assert_eq!(
                seen,
                vec![
                    (Target::Stdout, b"hello\n".to_vec()),
                    (Target::Stderr, b"oops\n".to_vec()),
                    (Target::Stdout, b"in".to_vec()),
                    (Target::Stdout, Vec::new()),
                ]
            );
        }
    }

    #[test]
    fn daemon_errors_and_bad_headers() {
        let (_, result) = run(&[&frame(3, b"boom")]);
        assert_eq!(result, Err("error from daemon in stream: boom".to_string()));
        let (_, result) = run(&[&frame(9, b"x")]);
        assert_eq!(result, Err("Unrecognized input header: 9".to_string()));
    }
}
