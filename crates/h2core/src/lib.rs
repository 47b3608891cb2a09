//! h2core: the HTTP/2 transport under h2grpc.
//!
//! Below the call, everything is here: dialing, the h2 connection and its
//! flow control, gRPC framing and status. Above it, an embedder (the napi
//! binding) starts calls by id and drains completions from one queue; see
//! `ARCHITECTURE.md` for the boundary protocol.

mod bdp;
mod call;
mod compression;
mod conn_cell;
mod connection;
mod dial;
mod event;
mod framing;
mod keepalive;
mod mailbox;
mod proxy;
mod queue;
mod recv_window;
mod sniffer;
mod status;
mod timeout;
mod tls;
mod transport;

pub use bdp::{BdpEstimator, BDP_LIMIT};
pub use compression::{
    decompress, encode_compressed, zlib_level, Encoding, RecvEncoding, SendCompression,
    ACCEPT_ENCODING, DEFAULT_LEVEL,
};
pub use connection::ConnectOptions;
pub use dial::Address;
pub use event::{ConnEvent, Event};
pub use framing::{encode_message, DecodeError, Decoder};
pub use keepalive::KeepaliveOptions;
pub use proxy::ProxyOptions;
pub use queue::{CompletionQueue, Stats, Wake};
pub use recv_window::UNREAD_ALLOWANCE;
pub use status::{
    code_from_http_status, code_from_reason, percent_decode, percent_encode, Code, Status,
};
pub use timeout::{decode_timeout, encode_timeout};
pub use tls::{TlsOptions, Verify};
pub use transport::{StartCall, Transport};
