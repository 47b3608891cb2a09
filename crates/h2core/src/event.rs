//! Completions the transport reports to its embedder, in order per stream.

use bytes::Bytes;
use http::HeaderMap;

use crate::status::Code;

/// Lifecycle of a connection after `connect` returned its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// The server's SETTINGS arrived: streams may be started.
    Ready,
    /// The TLS peer's leaf certificate (DER), sent before `Ready` when the
    /// embedder asked to check the server's identity itself.
    PeerCertificate { der: Bytes },
    /// The server sent GOAWAY; streams above `last_stream_id` were not processed.
    GoAway {
        code: u32,
        last_stream_id: u32,
        debug: Bytes,
    },
    /// The connection is gone (dial failure, I/O error, GOAWAY completed, or closed by us).
    Closed { reason: String },
}

/// One completion. Streams and connections are plain integer ids.
#[derive(Debug)]
pub enum Event {
    Connection {
        conn: u32,
        event: ConnEvent,
    },
    /// Response headers as metadata: pseudo-headers and the compression
    /// negotiation headers removed; `content-type` kept, as grpc-js does.
    Headers {
        stream: u32,
        metadata: HeaderMap,
    },
    /// One whole received message, unframed.
    Message {
        stream: u32,
        data: Bytes,
    },
    /// A streamed request message was handed to h2 and the stream has send
    /// capacity again: the embedder may report the write as done.
    WriteAck {
        stream: u32,
    },
    /// The call is over; nothing more comes for this stream.
    Status {
        stream: u32,
        code: Code,
        message: String,
        trailers: HeaderMap,
    },
}
