//! The N-API face of h2core. It only translates: JS values in, one packed
//! batch of completions out. All transport logic lives in h2core.
//!
//! Batch format (little-endian), documented for the decoder in
//! `ts/transport/batch-decoder.ts` (`decodeBatch`) and in ARCHITECTURE.md:
//! `drain()` returns `[control, ...external]`; `control` is a sequence of
//! records, each starting with a kind byte:
//! - 1 READY       u32 conn
//! - 2 GOAWAY      u32 conn, u32 code, u32 last_stream_id, u32 len, debug bytes
//! - 3 CLOSED      u32 conn, u32 len, reason utf8
//! - 4 HEADERS     u32 stream, metadata
//! - 5 MESSAGE     u32 stream, u32 len: a small message, the next `len` bytes
//!   of the current segment
//! - 6 MESSAGE_EXT u32 stream, u32 index into `external`
//! - 7 WRITE_ACK   u32 stream
//! - 8 STATUS      u32 stream, u32 code, u32 len, message utf8, metadata
//! - 9 PEER_CERT   u32 conn, u32 len, DER bytes of the TLS peer's leaf
//!   certificate; only when `ConnectConfig.wantPeerCertificate` is set, and
//!   always before that connection's READY
//! - 10 SEGMENT    u32 index into `external`: the following small messages'
//!   bytes are that Buffer's, in order from its start
//!
//! where metadata is u32 count, then per entry u32 key len, key, u32 value
//! len, value (ASCII; `-bin` values base64 as on the wire).

#![deny(clippy::unwrap_used)]

#[cfg(not(unix))]
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2core::{
    Address, ConnEvent, ConnectOptions, Event, ProxyOptions, StartCall, Stats, TlsOptions,
    Transport, Verify, Wake,
};
use napi::bindgen_prelude::*;
#[cfg(not(unix))]
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// Messages up to this size are copied into shared segments of at most this
/// size, each its own Buffer: many small messages cost one allocation, and a
/// message JS keeps alive (protobufjs keeps `bytes` fields as views) pins at
/// most its segment, not the whole batch. Larger messages cross as their own
/// Buffer, without a copy when their allocation has a single owner.
const SEGMENT_SIZE: usize = 16 * 1024;

/// The count in a `flush` reads pair that says the stream's reader paused
/// (`READS_PAUSED` in ts/transport/native-transport.ts).
const READS_PAUSED: u32 = u32::MAX;

#[cfg(unix)]
mod uv_wake;

#[cfg(not(unix))]
type WakeFn = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

/// The JS thread's end of the wake-up: a bare `uv_async_t` on Unix (see
/// `uv_wake.rs` for why), N-API's threadsafe function elsewhere.
#[cfg(unix)]
type WakeHandle = uv_wake::UvWakeHandle;
#[cfg(not(unix))]
type WakeHandle = Arc<WakeFn>;

#[cfg(not(unix))]
struct TsfnWake(Arc<WakeFn>);

#[cfg(not(unix))]
impl Wake for TsfnWake {
    fn wake(&self) {
        // NonBlocking: the queue is unbounded and an I/O thread must never
        // wait for JS. Failure only happens while the environment shuts down.
        let _ = self.0.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
}

/// Options for `connect`, mirroring the channel options that shape a connection.
#[napi(object)]
pub struct ConnectConfig {
    pub authority: String,
    pub secure: Option<bool>,
    pub connect_timeout_ms: Option<f64>,
    pub initial_stream_window: Option<u32>,
    pub initial_conn_window: Option<u32>,
    pub bdp_probe: Option<bool>,
    pub max_frame_size: Option<u32>,
    pub max_header_list_size: Option<u32>,
    pub max_receive_message_length: Option<f64>,
    pub user_agent: Option<String>,
    /// grpc-js's `grpc.default_compression_algorithm`: 0 identity, 1 deflate, 2 gzip.
    pub compression_algorithm: Option<u32>,
    /// `grpc.default_compression_level`: 0 none, 1 low, 2 medium, 3 high.
    pub compression_level: Option<u32>,
    /// `grpc.keepalive_time_ms`; absent or <= 0 disables keepalive.
    pub keepalive_time_ms: Option<f64>,
    pub keepalive_timeout_ms: Option<f64>,
    pub keepalive_permit_without_calls: Option<bool>,
    /// PEM trusted roots for TLS; absent means the system's roots.
    pub root_certs: Option<String>,
    /// PEM client key and chain for mTLS (both or neither).
    pub private_key: Option<String>,
    pub cert_chain: Option<String>,
    /// TLS SNI and verification name (required when `secure`).
    pub server_name: Option<String>,
    /// `false` accepts any server certificate.
    pub reject_unauthorized: Option<bool>,
    /// Report the peer certificate (PEER_CERT event) and skip the native
    /// name check: JS runs the user's `checkServerIdentity` instead.
    pub want_peer_certificate: Option<bool>,
    /// Tunnel through the HTTP proxy at `address` with CONNECT.
    pub proxy: Option<ProxyConfig>,
}

/// HTTP CONNECT tunnel settings.
#[napi(object)]
pub struct ProxyConfig {
    /// `host:port` the proxy is asked to connect to.
    pub target: String,
    /// `Proxy-Authorization` header value, e.g. `Basic …`.
    pub auth_header: Option<String>,
}

/// Boundary crossing counters (monotonic since the transport was created).
#[napi(object)]
pub struct NativeStats {
    pub calls_in: f64,
    pub wakes_out: f64,
    pub drains: f64,
    pub events_out: f64,
    pub bytes_copied: f64,
    pub bytes_zero_copy: f64,
    pub streams_started: f64,
    pub active_streams: f64,
}

#[napi]
pub struct NativeTransport {
    inner: Transport,
    wake: WakeHandle,
    spare: Vec<Event>,
    control: Vec<u8>,
    refed: bool,
}

/// A century, in ms: "never" for any timeout, and far from where
/// `Duration::from_secs_f64` panics or `Instant + Duration` overflows.
const FOREVER_MS: f64 = 100.0 * 365.0 * 24.0 * 3600.0 * 1000.0;

/// A JS duration in ms: `None` for NaN and negative values (the option's
/// default, or no deadline); anything longer than a century (up to Infinity)
/// is a century. A JS number can be up to 1.8e308, so without the cap a huge
/// option or a far deadline would panic here (connect throwing, the call
/// ending INTERNAL).
fn duration_ms(ms: f64) -> Option<Duration> {
    if ms.is_nan() || ms < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(ms.min(FOREVER_MS) / 1000.0))
}

#[napi]
impl NativeTransport {
    /// `wake` is called (at most once per drain) when events are waiting.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, wake: Function<(), Unknown<'static>>) -> Result<Self> {
        let (waker, wake): (Box<dyn Wake>, WakeHandle) = {
            #[cfg(unix)]
            {
                let (waker, handle) = uv_wake::create(env.raw(), wake.raw())?;
                (Box::new(waker), handle)
            }
            #[cfg(not(unix))]
            {
                let _ = env;
                let tsfn: WakeFn = wake
                    .build_threadsafe_function::<()>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build_callback(|_ctx| Ok(()))?;
                let tsfn = Arc::new(tsfn);
                (Box::new(TsfnWake(tsfn.clone())), tsfn)
            }
        };
        let mut inner = Transport::new(waker);
        // JS calls `flush` once per event-loop turn (see native-transport.ts).
        inner.set_deferred(true);
        // JS reports the messages it took with `flush`: receive backpressure.
        inner.set_acks_reads(true);
        Ok(NativeTransport {
            inner,
            wake,
            spare: Vec::new(),
            control: Vec::with_capacity(4096),
            refed: false,
        })
    }

    /// Keeps the Node.js event loop alive while `true` (calls are in flight).
    #[napi(catch_unwind)]
    pub fn set_ref(&mut self, env: Env, on: bool) -> Result<()> {
        if on == self.refed {
            return Ok(());
        }
        #[cfg(unix)]
        {
            let _ = env;
            self.wake.set_ref(on);
            self.refed = on;
            Ok(())
        }
        #[cfg(not(unix))]
        self.set_tsfn_ref(env, on)
    }

    #[cfg(not(unix))]
    fn set_tsfn_ref(&mut self, env: Env, on: bool) -> Result<()> {
        let raw = self.wake.raw();
        let status = unsafe {
            if on {
                napi::sys::napi_ref_threadsafe_function(env.raw(), raw)
            } else {
                napi::sys::napi_unref_threadsafe_function(env.raw(), raw)
            }
        };
        if status != napi::sys::Status::napi_ok {
            return Err(Error::from_reason(
                "h2grpc: cannot change the wake-up handle's ref state",
            ));
        }
        self.refed = on;
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn connect(&self, address: String, config: ConnectConfig) -> Result<u32> {
        let address = Address::parse(&address).map_err(Error::from_reason)?;
        let mut opts = ConnectOptions::new(address, config.authority);
        if let Some(v) = config.secure {
            opts.secure = v;
        }
        if let Some(d) = config.connect_timeout_ms.and_then(duration_ms) {
            opts.connect_timeout = d;
        }
        if let Some(v) = config.initial_stream_window {
            opts.initial_stream_window = v.clamp(65_535, h2core::BDP_LIMIT);
        }
        if let Some(v) = config.initial_conn_window {
            opts.initial_conn_window = v.clamp(65_535, 1 << 30);
        }
        if let Some(v) = config.bdp_probe {
            opts.bdp_probe = v;
        }
        if let Some(v) = config.max_frame_size {
            opts.max_frame_size = v;
        }
        if let Some(v) = config.max_header_list_size {
            opts.max_header_list_size = v;
        }
        if let Some(v) = config.max_receive_message_length {
            opts.max_receive_message_length = if v < 0.0 { usize::MAX } else { v as usize };
        }
        if let Some(v) = config.user_agent {
            opts.user_agent = v;
        }
        if opts.secure {
            let want_peer_certificate = config.want_peer_certificate.unwrap_or(false);
            opts.tls = Some(TlsOptions {
                root_certs: config.root_certs,
                private_key: config.private_key,
                cert_chain: config.cert_chain,
                server_name: config.server_name.ok_or_else(|| {
                    Error::from_reason("h2grpc: a secure connection needs serverName")
                })?,
                verify: if config.reject_unauthorized == Some(false) {
                    Verify::None
                } else if want_peer_certificate {
                    Verify::ChainOnly
                } else {
                    Verify::Full
                },
                want_peer_certificate,
            });
        }
        opts.proxy = config.proxy.map(|p| ProxyOptions {
            target: p.target,
            auth_header: p.auth_header,
        });
        if let Some(e) = config
            .compression_algorithm
            .and_then(h2core::Encoding::from_algorithm)
        {
            opts.compression.encoding = e;
        }
        if let Some(v) = config.compression_level {
            opts.compression.level = h2core::zlib_level(v);
        }
        if let Some(d) = config
            .keepalive_time_ms
            .filter(|&ms| ms > 0.0)
            .and_then(duration_ms)
        {
            opts.keepalive.time = Some(d);
        }
        if let Some(d) = config.keepalive_timeout_ms.and_then(duration_ms) {
            opts.keepalive.timeout = d;
        }
        if let Some(v) = config.keepalive_permit_without_calls {
            opts.keepalive.permit_without_calls = v;
        }
        Ok(self.inner.connect(opts))
    }

    #[napi(catch_unwind)]
    pub fn close_connection(&self, conn: u32) {
        self.inner.close_connection(conn);
    }

    /// Starts an RPC in one crossing. `timeoutMs < 0` means no deadline;
    /// `maxReceive < 0` means the connection's default.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn start_call(
        &self,
        conn: u32,
        path: String,
        authority: Option<String>,
        metadata: Option<String>,
        timeout_ms: f64,
        message: Option<BufferSlice>,
        half_close: bool,
        max_receive: f64,
    ) -> u32 {
        self.inner.start_call(StartCall {
            conn,
            path: &path,
            authority: authority.as_deref(),
            metadata: metadata.as_deref().map_or(&[][..], str::as_bytes),
            timeout: duration_ms(timeout_ms),
            message: message.as_deref(),
            half_close,
            max_receive_message_length: if max_receive >= 0.0 {
                Some(max_receive as usize)
            } else {
                None
            },
        })
    }

    #[napi(catch_unwind)]
    /// `ack` asks for a WRITE_ACK event once the stream can take more.
    pub fn send_message(&self, stream: u32, message: BufferSlice, end: bool, ack: bool) {
        self.inner.send_message_with_ack(stream, &message, end, ack);
    }

    #[napi(catch_unwind)]
    pub fn half_close(&self, stream: u32) {
        self.inner.half_close(stream);
    }

    /// Hands the calls, messages and read acknowledgements queued during this
    /// turn to the I/O thread. `reads` is `(stream, count)` pairs: how many
    /// more of each stream's messages JS has taken, whose bytes may now go
    /// back to the server's window (0 after a pause: reading again), or
    /// `READS_PAUSED` (0xFFFFFFFF): the stream's reader stopped.
    #[napi(catch_unwind)]
    pub fn flush(&self, reads: Option<Uint32ArraySlice>) {
        if let Some(reads) = reads {
            for pair in reads.chunks_exact(2) {
                if pair[1] == READS_PAUSED {
                    self.inner.pause_reads(pair[0]);
                } else {
                    self.inner.read(pair[0], pair[1]);
                }
            }
        }
        self.inner.flush();
    }

    #[napi(catch_unwind)]
    pub fn cancel(&self, stream: u32) {
        self.inner.cancel(stream);
    }

    /// Takes every pending completion as `[control, ...external]`, or null.
    #[napi(catch_unwind)]
    pub fn drain(&mut self) -> Option<Vec<Buffer>> {
        let spare = std::mem::take(&mut self.spare);
        let mut events = self.inner.drain(spare);
        if events.is_empty() {
            self.spare = events;
            return None;
        }
        let stats = self.inner.stats();
        let mut control = std::mem::replace(&mut self.control, Vec::with_capacity(4096));
        let mut out = vec![Buffer::from(Vec::new())];
        let mut segment = Segment::default();
        for ev in events.drain(..) {
            encode_event(ev, &mut control, &mut out, &mut segment, stats);
        }
        segment.finish(&mut out);
        self.spare = events;
        out[0] = Buffer::from(control);
        Some(out)
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativeStats {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.inner.stats();
        NativeStats {
            calls_in: s.calls_in.load(Relaxed) as f64,
            wakes_out: s.wakes_out.load(Relaxed) as f64,
            drains: s.drains.load(Relaxed) as f64,
            events_out: s.events_out.load(Relaxed) as f64,
            bytes_copied: s.bytes_copied.load(Relaxed) as f64,
            bytes_zero_copy: s.bytes_zero_copy.load(Relaxed) as f64,
            streams_started: s.streams_started.load(Relaxed) as f64,
            active_streams: self.inner.active_streams() as f64,
        }
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

fn put_metadata(out: &mut Vec<u8>, map: &http::HeaderMap) {
    put_u32(out, map.len() as u32);
    for (k, v) in map {
        put_bytes(out, k.as_str().as_bytes());
        put_bytes(out, v.as_bytes());
    }
}

/// The segment small messages are being copied into, and its slot in `external`.
#[derive(Default)]
struct Segment {
    bytes: Vec<u8>,
    /// 0: none yet (slot 0 is the control buffer).
    index: u32,
}

impl Segment {
    /// Copies `data` in, starting a new segment (announced by a SEGMENT
    /// record) when it would not fit.
    fn append(&mut self, data: &[u8], control: &mut Vec<u8>, external: &mut Vec<Buffer>) {
        if self.index == 0 || self.bytes.len() + data.len() > SEGMENT_SIZE {
            self.finish(external);
            self.index = external.len() as u32;
            external.push(Buffer::from(Vec::new()));
            control.push(10);
            put_u32(control, self.index);
            // Grows by doubling up to SEGMENT_SIZE: a lone small response
            // does not cost a full segment.
            self.bytes = Vec::with_capacity(data.len().max(256));
        }
        self.bytes.extend_from_slice(data);
    }

    fn finish(&mut self, external: &mut [Buffer]) {
        if self.index != 0 {
            external[self.index as usize] = Buffer::from(std::mem::take(&mut self.bytes));
        }
    }
}

fn encode_event(
    ev: Event,
    control: &mut Vec<u8>,
    external: &mut Vec<Buffer>,
    segment: &mut Segment,
    stats: &Stats,
) {
    match ev {
        Event::Connection { conn, event } => match event {
            ConnEvent::Ready => {
                control.push(1);
                put_u32(control, conn);
            }
            ConnEvent::GoAway {
                code,
                last_stream_id,
                debug,
            } => {
                control.push(2);
                put_u32(control, conn);
                put_u32(control, code);
                put_u32(control, last_stream_id);
                put_bytes(control, &debug);
            }
            ConnEvent::Closed { reason } => {
                control.push(3);
                put_u32(control, conn);
                put_bytes(control, reason.as_bytes());
            }
            ConnEvent::PeerCertificate { der } => {
                control.push(9);
                put_u32(control, conn);
                put_bytes(control, &der);
            }
        },
        Event::Headers { stream, metadata } => {
            control.push(4);
            put_u32(control, stream);
            put_metadata(control, &metadata);
        }
        Event::Message { stream, data } => {
            if data.len() <= SEGMENT_SIZE {
                segment.append(&data, control, external);
                control.push(5);
                put_u32(control, stream);
                put_u32(control, data.len() as u32);
                Stats::add(&stats.bytes_copied, data.len() as u64);
            } else {
                control.push(6);
                put_u32(control, stream);
                put_u32(control, external.len() as u32);
                external.push(Buffer::from(into_vec(data, stats)));
            }
        }
        Event::WriteAck { stream } => {
            control.push(7);
            put_u32(control, stream);
        }
        Event::Status {
            stream,
            code,
            message,
            trailers,
        } => {
            control.push(8);
            put_u32(control, stream);
            put_u32(control, code as u32);
            put_bytes(control, message.as_bytes());
            put_metadata(control, &trailers);
        }
    }
}

/// Hands a reassembled message's allocation to JS without copying when this
/// is its only owner; a slice of a shared read buffer has to be copied.
fn into_vec(data: Bytes, stats: &Stats) -> Vec<u8> {
    let counter = if data.is_unique() {
        &stats.bytes_zero_copy
    } else {
        &stats.bytes_copied
    };
    Stats::add(counter, data.len() as u64);
    Vec::from(data)
}
