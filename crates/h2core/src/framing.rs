//! gRPC message framing: a 5-byte prefix (compressed flag, u32 big-endian
//! length) before each message, messages reassembled across DATA frames,
//! compressed ones inflated (see `compression.rs`).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::compression::{decompress, RecvEncoding};
use crate::status::{Code, Status};

pub const PREFIX_LEN: usize = 5;

/// The most a split message's buffer reserves before its bytes arrive. The
/// prefix's length is the peer's claim: with no receive limit a prefix saying
/// 4 GiB must not reserve 4 GiB; the buffer grows with what really arrives.
pub const MAX_RESERVE: usize = 1024 * 1024;

/// Frames one uncompressed message. Copies the payload once, into the same
/// allocation as its prefix, so h2 gets one contiguous chunk per message.
pub fn encode_message(payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(PREFIX_LEN + payload.len());
    buf.put_u8(0);
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
    buf.freeze()
}

/// Why a received byte stream is not a valid sequence of gRPC messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge {
        len: usize,
        limit: usize,
    },
    /// A compressed message that could not be inflated (or inflates past
    /// the limit); the status is grpc-js's for the same failure.
    Compression(Status),
    BadFlag(u8),
    Truncated {
        have: usize,
        want: usize,
    },
}

impl DecodeError {
    pub fn to_status(&self) -> Status {
        match *self {
            DecodeError::TooLarge { len, limit } => Status::new(
                Code::ResourceExhausted,
                format!("Received message larger than max ({len} vs. {limit})"),
            ),
            DecodeError::Compression(ref status) => status.clone(),
            DecodeError::BadFlag(flag) => Status::new(
                Code::Internal,
                format!("Received a message with an invalid compressed flag {flag}"),
            ),
            DecodeError::Truncated { have, want } => Status::new(
                Code::Internal,
                format!("Stream ended inside a message ({have} of {want} bytes received)"),
            ),
        }
    }
}

/// Reassembles messages from DATA frame payloads. A message that arrives whole
/// inside one chunk is handed out as a zero-copy slice of that chunk; only a
/// message split across frames is copied, once, into a buffer of its exact size.
#[derive(Debug)]
pub struct Decoder {
    limit: usize,
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Length of the message being assembled, once its prefix is complete.
    want: Option<usize>,
    partial: BytesMut,
    copied: usize,
    /// The current message's compressed flag.
    compressed: bool,
    encoding: RecvEncoding,
}

impl Decoder {
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            limit,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            want: None,
            partial: BytesMut::new(),
            copied: 0,
            compressed: false,
            encoding: RecvEncoding::Identity,
        }
    }

    /// Sets how compressed messages are inflated (the response's `grpc-encoding`).
    pub fn set_encoding(&mut self, encoding: RecvEncoding) {
        self.encoding = encoding;
    }

    /// Bytes copied so far while reassembling split messages.
    pub fn bytes_copied(&self) -> usize {
        self.copied
    }

    /// Feeds one DATA payload; calls `out` for every message completed by it,
    /// with the message and its size on the wire (prefix included).
    pub fn feed(
        &mut self,
        mut chunk: Bytes,
        mut out: impl FnMut(Bytes, usize),
    ) -> Result<(), DecodeError> {
        while chunk.has_remaining() {
            let want = match self.want {
                Some(want) => want,
                None => {
                    if self.prefix_len == 0 && chunk.len() >= PREFIX_LEN {
                        self.prefix.copy_from_slice(&chunk[..PREFIX_LEN]);
                        chunk.advance(PREFIX_LEN);
                    } else {
                        let take = (PREFIX_LEN - self.prefix_len).min(chunk.len());
                        self.prefix[self.prefix_len..self.prefix_len + take]
                            .copy_from_slice(&chunk[..take]);
                        self.prefix_len += take;
                        chunk.advance(take);
                        if self.prefix_len < PREFIX_LEN {
                            return Ok(());
                        }
                    }
                    self.prefix_len = 0;
                    let want = self.check_prefix()?;
                    self.want = Some(want);
                    want
                }
            };
            if self.partial.is_empty() && chunk.len() >= want {
                let msg = chunk.split_to(want);
                self.want = None;
                out(self.inflate(msg)?, PREFIX_LEN + want);
                continue;
            }
            let missing = want - self.partial.len();
            let take = missing.min(chunk.len());
            if self.partial.capacity() - self.partial.len() < take {
                self.partial.reserve(missing.min(MAX_RESERVE).max(take));
            }
            self.partial.extend_from_slice(&chunk[..take]);
            self.copied += take;
            chunk.advance(take);
            if self.partial.len() == want {
                // Take the buffer whole (not split) so the message owns its
                // allocation alone and can cross to JS without another copy.
                let msg = std::mem::take(&mut self.partial).freeze();
                self.want = None;
                out(self.inflate(msg)?, PREFIX_LEN + want);
            }
        }
        Ok(())
    }

    /// Called at end of stream: a half-received message is an error.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.prefix_len > 0 {
            return Err(DecodeError::Truncated {
                have: self.prefix_len,
                want: PREFIX_LEN,
            });
        }
        match self.want {
            Some(want) => Err(DecodeError::Truncated {
                have: self.partial.len(),
                want,
            }),
            None => Ok(()),
        }
    }

    fn inflate(&self, msg: Bytes) -> Result<Bytes, DecodeError> {
        if !self.compressed {
            return Ok(msg);
        }
        decompress(&self.encoding, &msg, self.limit).map_err(DecodeError::Compression)
    }

    fn check_prefix(&mut self) -> Result<usize, DecodeError> {
        let len = u32::from_be_bytes([
            self.prefix[1],
            self.prefix[2],
            self.prefix[3],
            self.prefix[4],
        ]) as usize;
        self.compressed = match self.prefix[0] {
            0 => false,
            1 => true,
            flag => return Err(DecodeError::BadFlag(flag)),
        };
        // The compressed size counts against the limit too (as in grpc-js),
        // so a compressed message is never buffered beyond it either.
        if len > self.limit {
            return Err(DecodeError::TooLarge {
                len,
                limit: self.limit,
            });
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]], limit: usize) -> Result<Vec<Vec<u8>>, DecodeError> {
        let mut d = Decoder::new(limit);
        let mut msgs = Vec::new();
        for c in chunks {
            d.feed(Bytes::copy_from_slice(c), |m, _| msgs.push(m.to_vec()))?;
        }
        d.finish()?;
        Ok(msgs)
    }

    #[test]
    fn encodes_prefix() {
        assert_eq!(
            &encode_message(b"abc")[..],
            &[0, 0, 0, 0, 3, b'a', b'b', b'c']
        );
        assert_eq!(&encode_message(b"")[..], &[0, 0, 0, 0, 0]);
    }

    #[test]
    fn several_messages_in_one_chunk_are_not_copied() {
        let mut wire = encode_message(b"hello").to_vec();
        wire.extend_from_slice(&encode_message(b""));
        wire.extend_from_slice(&encode_message(b"world!"));
        let mut d = Decoder::new(100);
        let mut msgs = Vec::new();
        d.feed(Bytes::from(wire), |m, _| msgs.push(m)).unwrap();
        assert_eq!(
            msgs,
            vec![Bytes::from("hello"), Bytes::new(), Bytes::from("world!")]
        );
        assert_eq!(d.bytes_copied(), 0);
    }

    #[test]
    fn reassembles_across_every_split_point() {
        let mut wire = encode_message(b"first message").to_vec();
        wire.extend_from_slice(&encode_message(b"2nd"));
        for a in 0..wire.len() {
            for b in a..wire.len() {
                let msgs = decode_all(&[&wire[..a], &wire[a..b], &wire[b..]], 100).unwrap();
                assert_eq!(
                    msgs,
                    vec![b"first message".to_vec(), b"2nd".to_vec()],
                    "split {a} {b}"
                );
            }
        }
    }

    #[test]
    fn rejects_oversized_before_buffering() {
        let wire = [0u8, 0, 0x10, 0, 0];
        assert_eq!(
            decode_all(&[&wire], 4096),
            Err(DecodeError::TooLarge {
                len: 1 << 20,
                limit: 4096
            })
        );
        assert_eq!(
            decode_all(&[&encode_message(&[7; 4096])], 4096)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn rejects_compressed_and_bad_flags() {
        let no_encoding = decode_all(&[&[1, 0, 0, 0, 0]], 10).unwrap_err();
        assert_eq!(no_encoding.to_status().code, Code::Internal);
        assert_eq!(
            no_encoding.to_status().message,
            "Received compressed message but \"grpc-encoding\" header was identity"
        );
        assert_eq!(
            decode_all(&[&[9, 0, 0, 0, 0]], 10),
            Err(DecodeError::BadFlag(9))
        );
        assert_eq!(
            DecodeError::TooLarge { len: 5, limit: 4 }.to_status().code,
            Code::ResourceExhausted
        );
    }

    #[test]
    fn inflates_compressed_messages_between_plain_ones() {
        use crate::compression::{encode_compressed, Encoding, SendCompression};
        let gz = SendCompression {
            encoding: Encoding::Gzip,
            level: 6,
        };
        let mut wire = encode_message(b"plain").to_vec();
        wire.extend_from_slice(&encode_compressed(gz, &[b'z'; 3000]));
        wire.extend_from_slice(&encode_message(b"again"));
        for split in [1, 7, 20, wire.len() - 1] {
            let mut d = Decoder::new(4096);
            d.set_encoding(RecvEncoding::Known(Encoding::Gzip));
            let mut msgs = Vec::new();
            d.feed(Bytes::copy_from_slice(&wire[..split]), |m, _| msgs.push(m))
                .unwrap();
            d.feed(Bytes::copy_from_slice(&wire[split..]), |m, _| msgs.push(m))
                .unwrap();
            assert_eq!(msgs.len(), 3);
            assert_eq!(&msgs[0][..], b"plain");
            assert_eq!(&msgs[1][..], &[b'z'; 3000][..]);
            assert_eq!(&msgs[2][..], b"again");
        }
        // Inflating past the limit fails even though the wire size is small.
        let mut d = Decoder::new(2999);
        d.set_encoding(RecvEncoding::Known(Encoding::Gzip));
        let err = d
            .feed(Bytes::from(wire), |_, _| {})
            .unwrap_err()
            .to_status();
        assert_eq!(err.code, Code::ResourceExhausted);
    }

    #[test]
    fn truncated_stream_is_an_error() {
        assert_eq!(
            decode_all(&[&[0, 0, 0, 0, 9, 1, 2]], 100),
            Err(DecodeError::Truncated { have: 2, want: 9 })
        );
        assert_eq!(
            decode_all(&[&[0, 0]], 100),
            Err(DecodeError::Truncated { have: 2, want: 5 })
        );
    }

    #[test]
    fn a_huge_claimed_length_reserves_only_what_arrives() {
        // No receive limit, a prefix claiming ~4 GiB, then 10 bytes.
        let mut d = Decoder::new(usize::MAX);
        let mut wire = vec![0u8, 0xff, 0xff, 0xff, 0xf0];
        wire.extend_from_slice(&[7; 10]);
        d.feed(Bytes::from(wire), |_, _| panic!("no message yet"))
            .unwrap();
        assert!(
            d.partial.capacity() <= MAX_RESERVE,
            "{}",
            d.partial.capacity()
        );
        assert_eq!(d.partial.len(), 10);
    }

    #[test]
    fn reports_wire_sizes() {
        let mut wire = encode_message(b"hello").to_vec();
        wire.extend_from_slice(&encode_message(&[1; 40]));
        let mut d = Decoder::new(100);
        let mut sizes = Vec::new();
        d.feed(Bytes::copy_from_slice(&wire[..20]), |_, n| sizes.push(n))
            .unwrap();
        d.feed(Bytes::copy_from_slice(&wire[20..]), |_, n| sizes.push(n))
            .unwrap();
        assert_eq!(sizes, vec![10, 45]);
    }
}
