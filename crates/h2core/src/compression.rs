//! Message compression per gRPC's compression doc: `identity`, `deflate`
//! (zlib format, RFC 1950) and `gzip`. Compression runs on the I/O thread so
//! JS never pays for it; decompression is incremental and stops as soon as
//! the output passes the receive limit, so a small "bomb" can never make us
//! allocate its inflated size.

use std::io::{self, Read};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;

use crate::framing::PREFIX_LEN;
use crate::status::{Code, Status};

/// The value every request sends as `grpc-accept-encoding` (grpc-js's list).
pub const ACCEPT_ENCODING: &str = "identity,deflate,gzip";

/// A message encoding this transport implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Identity,
    Deflate,
    Gzip,
}

impl Encoding {
    /// Parses a `grpc-encoding` value; `None` for encodings we do not implement.
    pub fn from_name(name: &[u8]) -> Option<Encoding> {
        match name {
            b"identity" => Some(Encoding::Identity),
            b"deflate" => Some(Encoding::Deflate),
            b"gzip" => Some(Encoding::Gzip),
            _ => None,
        }
    }

    /// grpc-js's numeric `grpc.default_compression_algorithm` (0, 1, 2).
    pub fn from_algorithm(n: u32) -> Option<Encoding> {
        match n {
            0 => Some(Encoding::Identity),
            1 => Some(Encoding::Deflate),
            2 => Some(Encoding::Gzip),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Deflate => "deflate",
            Encoding::Gzip => "gzip",
        }
    }
}

/// How a call compresses what it sends: the encoding and a zlib level (0–9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCompression {
    pub encoding: Encoding,
    pub level: u32,
}

impl Default for SendCompression {
    fn default() -> Self {
        SendCompression {
            encoding: Encoding::Identity,
            level: DEFAULT_LEVEL,
        }
    }
}

/// zlib's default, which is what Node's `zlib.deflate`/`gzip` use.
pub const DEFAULT_LEVEL: u32 = 6;

/// Maps gRPC's `grpc.default_compression_level` (0 none, 1 low, 2 medium,
/// 3 high) to a zlib level.
pub fn zlib_level(grpc_level: u32) -> u32 {
    match grpc_level {
        0 => 0,
        1 => 1,
        2 => DEFAULT_LEVEL,
        _ => 9,
    }
}

/// Frames one message, compressed with `c` (flag byte 1) unless it is
/// identity. The prefix is reserved first and the compressor writes right
/// after it, so the frame is one allocation like the uncompressed path.
pub fn encode_compressed(c: SendCompression, payload: &[u8]) -> Bytes {
    if c.encoding == Encoding::Identity {
        return crate::framing::encode_message(payload);
    }
    let mut buf = BytesMut::with_capacity(PREFIX_LEN + payload.len() / 2 + 64);
    buf.put_u8(1);
    buf.put_u32(0);
    let level = Compression::new(c.level.min(9));
    let writer = buf.writer();
    // Writing into memory cannot fail: the io::Result is only the trait's.
    let buf = match c.encoding {
        Encoding::Deflate => finish(ZlibEncoder::new(writer, level), payload),
        _ => finish(GzEncoder::new(writer, level), payload),
    };
    let mut buf = buf.into_inner();
    let len = (buf.len() - PREFIX_LEN) as u32;
    buf[1..PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

trait Finish: io::Write {
    fn done(self) -> io::Result<bytes::buf::Writer<BytesMut>>;
}

impl Finish for ZlibEncoder<bytes::buf::Writer<BytesMut>> {
    fn done(self) -> io::Result<bytes::buf::Writer<BytesMut>> {
        self.finish()
    }
}

impl Finish for GzEncoder<bytes::buf::Writer<BytesMut>> {
    fn done(self) -> io::Result<bytes::buf::Writer<BytesMut>> {
        self.finish()
    }
}

fn finish<E: Finish>(mut enc: E, payload: &[u8]) -> bytes::buf::Writer<BytesMut> {
    let written = enc.write_all(payload).and_then(|()| enc.done());
    match written {
        Ok(w) => w,
        // Unreachable (the sink is memory); fail loudly in the call task,
        // which reports INTERNAL, rather than send a corrupt frame.
        Err(e) => panic!("h2grpc: in-memory compression failed: {e}"),
    }
}

/// The receive side's encoding, from the response's `grpc-encoding`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RecvEncoding {
    /// No `grpc-encoding` header, or `identity`.
    #[default]
    Identity,
    Known(Encoding),
    /// An encoding we do not implement: only a compressed message fails, as in grpc-js.
    Unknown(String),
}

impl RecvEncoding {
    pub fn from_header(value: Option<&[u8]>) -> RecvEncoding {
        match value {
            None => RecvEncoding::Identity,
            Some(v) => match Encoding::from_name(v) {
                Some(Encoding::Identity) => RecvEncoding::Identity,
                Some(e) => RecvEncoding::Known(e),
                None => RecvEncoding::Unknown(String::from_utf8_lossy(v).into_owned()),
            },
        }
    }
}

/// Inflates one compressed message (the bytes after the 5-byte prefix).
/// Output beyond `limit` stops the inflater at once: memory stays bounded by
/// the limit whatever the compressed data claims to expand to.
pub fn decompress(enc: &RecvEncoding, data: &[u8], limit: usize) -> Result<Bytes, Status> {
    match enc {
        // `from_header` never yields Known(Identity); identity is Identity.
        RecvEncoding::Identity | RecvEncoding::Known(Encoding::Identity) => Err(Status::new(
            Code::Internal,
            "Received compressed message but \"grpc-encoding\" header was identity",
        )),
        RecvEncoding::Unknown(name) => Err(Status::new(
            Code::Internal,
            format!("Compression method not supported: {name}"),
        )),
        RecvEncoding::Known(Encoding::Deflate) => {
            bounded_read(ZlibDecoder::new(data), data.len(), limit, "deflate")
        }
        RecvEncoding::Known(Encoding::Gzip) => {
            bounded_read(MultiGzDecoder::new(data), data.len(), limit, "gzip")
        }
    }
}

fn bounded_read(
    mut r: impl Read,
    compressed_len: usize,
    limit: usize,
    name: &str,
) -> Result<Bytes, Status> {
    // Never hold more than limit + 1 bytes: one byte past the limit proves
    // the message too large. Each byte of the buffer is zeroed once, when
    // the buffer grows, not again on every read.
    let cap_max = limit.saturating_add(1);
    let mut out: Vec<u8> = vec![0; compressed_len.saturating_mul(4).max(64).min(cap_max)];
    let mut len = 0;
    loop {
        if len == out.len() {
            if len >= cap_max {
                return Err(too_large(limit));
            }
            let grow = len.max(4096).min(cap_max - len);
            out.reserve_exact(grow);
            out.resize(len + grow, 0);
        }
        match r.read(&mut out[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                return Err(Status::new(
                    Code::Internal,
                    format!("Failed to decompress {name}-encoded message"),
                ))
            }
        }
        if len > limit {
            return Err(too_large(limit));
        }
    }
    out.truncate(len);
    Ok(Bytes::from(out))
}

fn too_large(limit: usize) -> Status {
    Status::new(
        Code::ResourceExhausted,
        format!("Received message that decompresses to a size larger than {limit}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(e: Encoding, payload: &[u8]) -> Bytes {
        encode_compressed(
            SendCompression {
                encoding: e,
                level: DEFAULT_LEVEL,
            },
            payload,
        )
    }

    fn body(frame: &Bytes) -> &[u8] {
        let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
        assert_eq!(frame.len(), PREFIX_LEN + len);
        &frame[PREFIX_LEN..]
    }

    #[test]
    fn round_trips_gzip_and_deflate() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for e in [Encoding::Gzip, Encoding::Deflate] {
            let frame = compress(e, &payload);
            assert_eq!(frame[0], 1, "{e:?} sets the compressed flag");
            assert!(frame.len() < payload.len() / 4, "{e:?} compresses");
            let back = decompress(&RecvEncoding::Known(e), body(&frame), 1 << 20).unwrap();
            assert_eq!(&back[..], &payload[..]);
        }
        let empty = compress(Encoding::Gzip, b"");
        let back = decompress(&RecvEncoding::Known(Encoding::Gzip), body(&empty), 10).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn identity_is_not_compressed() {
        let frame = compress(Encoding::Identity, b"abc");
        assert_eq!(&frame[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn deflate_is_zlib_format_and_gzip_has_its_magic() {
        let d = compress(Encoding::Deflate, b"hello hello hello");
        assert_eq!(body(&d)[0] & 0x0f, 8, "zlib CM=8 header");
        let g = compress(Encoding::Gzip, b"hello hello hello");
        assert_eq!(&body(&g)[..2], &[0x1f, 0x8b]);
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        // 1 GiB of zeros, compressed in slices so the test does not need 1 GiB.
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 2 << 20, "bomb is small: {}", bomb.len());
        let limit = 4 << 20;
        let started = std::time::Instant::now();
        let err = decompress(&RecvEncoding::Known(Encoding::Gzip), &bomb, limit).unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted);
        assert_eq!(
            err.message,
            "Received message that decompresses to a size larger than 4194304"
        );
        // Stopping at the limit means inflating ~4 MiB, not 1 GiB.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn bounded_read_never_reserves_past_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let frame = compress(Encoding::Deflate, &zeros);
        let r = ZlibDecoder::new(body(&frame));
        let limit = 100_000;
        let err = bounded_read(r, 10, limit, "deflate").unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted);
        // Exactly at the limit is fine.
        let ok = decompress(
            &RecvEncoding::Known(Encoding::Deflate),
            body(&compress(Encoding::Deflate, &zeros[..limit])),
            limit,
        )
        .unwrap();
        assert_eq!(ok.len(), limit);
    }

    #[test]
    fn corrupt_or_truncated_is_internal() {
        let payload = vec![7u8; 10_000];
        for e in [Encoding::Gzip, Encoding::Deflate] {
            let frame = compress(e, &payload);
            let b = body(&frame);
            let truncated = decompress(&RecvEncoding::Known(e), &b[..b.len() / 2], 1 << 20);
            let err = truncated.unwrap_err();
            assert_eq!(err.code, Code::Internal, "{e:?} truncated");
            assert_eq!(
                err.message,
                format!("Failed to decompress {}-encoded message", e.name())
            );
            let garbage = decompress(&RecvEncoding::Known(e), b"not compressed at all", 1 << 20);
            assert_eq!(garbage.unwrap_err().code, Code::Internal, "{e:?} garbage");
        }
    }

    #[test]
    fn unknown_and_identity_encodings_reject_compressed_messages() {
        let enc = RecvEncoding::from_header(Some(b"snappy"));
        assert_eq!(enc, RecvEncoding::Unknown("snappy".into()));
        let err = decompress(&enc, b"x", 10).unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert_eq!(err.message, "Compression method not supported: snappy");
        let err = decompress(&RecvEncoding::from_header(None), b"x", 10).unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert_eq!(
            RecvEncoding::from_header(Some(b"identity")),
            RecvEncoding::Identity
        );
        assert_eq!(
            RecvEncoding::from_header(Some(b"gzip")),
            RecvEncoding::Known(Encoding::Gzip)
        );
    }
}
