//! zstd layers (`application/vnd.oci.image.layer.v1.tar+zstd`), decoded as
//! they stream with `ruzstd` (pure Rust: no C build). A zstd stream may be
//! several frames one after the other, and skippable frames between them
//! (zstd:chunked puts its table of contents in one): every frame is
//! decoded in turn and skippable ones passed over, as `zstd -d` does.

use std::io::{self, BufRead, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// The first bytes of a zstd frame.
pub(crate) const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

pub(crate) struct ZstdReader<R> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    pub(crate) fn new(source: R) -> Self {
        ZstdReader {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Reads the next frame's header; `false` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.init(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "zstd: truncated skippable frame",
                        ));
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // This frame is done: on to the next one, if any.
            self.in_frame = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    #[test]
    fn frames_and_skippable_frames_decode_in_turn() {
        let one: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut stream = compress_to_vec(&one[..], CompressionLevel::Fastest);
        assert!(stream.starts_with(&MAGIC));
        // A skippable frame (magic 0x184D2A50, little-endian length).
        stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        stream.extend(compress_to_vec(&b"second"[..], CompressionLevel::Fastest));
        let mut out = Vec::new();
        ZstdReader::new(&stream[..]).read_to_end(&mut out).unwrap();
        assert_eq!(&out[..one.len()], &one[..]);
        assert_eq!(&out[one.len()..], b"second");

        let mut broken = Vec::new();
        let cut = &stream[..stream.len() / 3];
        assert!(ZstdReader::new(cut).read_to_end(&mut broken).is_err());
    }
}
