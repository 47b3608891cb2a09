//! One HTTP/2 connection: dial, client preface and SETTINGS, then the driver
//! task that polls h2 (its read and write loops), reports readiness and
//! GOAWAY, and grows the flow-control window from BDP samples.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::Ping;
use http::uri::{Authority, Scheme};
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use crate::bdp::BdpEstimator;
use crate::compression::{Encoding, SendCompression};
use crate::conn_cell::{ConnCell, WriteNow};
use crate::dial::{dial, display, Address, Stream};
use crate::event::{ConnEvent, Event};
use crate::keepalive::{Action, Keepalive, KeepaliveOptions};
use crate::proxy::{tunnel, ProxyOptions};
use crate::sniffer::{FrameWatch, Sniffer};
use crate::tls::{handshake as tls_handshake, TlsOptions};
use crate::transport::Shared;

/// Channel options that shape a connection. Defaults follow grpc-go.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub address: Address,
    /// Default `:authority` for calls on this connection.
    pub authority: String,
    pub secure: bool,
    pub connect_timeout: Duration,
    pub initial_stream_window: u32,
    pub initial_conn_window: u32,
    /// Grow windows from BDP samples (disabled when a fixed window is asked for).
    pub bdp_probe: bool,
    pub max_frame_size: u32,
    pub max_header_list_size: u32,
    /// Default receive limit for calls (`grpc.max_receive_message_length`).
    pub max_receive_message_length: usize,
    pub user_agent: String,
    /// TLS settings; `None` is h2c (plaintext).
    pub tls: Option<TlsOptions>,
    /// Reach `address` (the proxy) and tunnel to the real server with CONNECT.
    pub proxy: Option<ProxyOptions>,
    /// What calls send with unless they override it (`grpc.default_compression_algorithm`/`_level`).
    pub compression: SendCompression,
    pub keepalive: KeepaliveOptions,
}

impl ConnectOptions {
    pub fn new(address: Address, authority: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            address,
            authority: authority.into(),
            secure: false,
            connect_timeout: Duration::from_secs(20),
            initial_stream_window: 65_535,
            // A small connection window makes servers buffer responses for
            // many concurrent streams (Node's http2 then answers with GOAWAY
            // ENHANCE_YOUR_CALM once its session memory cap is hit); the
            // per-stream window still starts at the spec default and grows
            // with BDP.
            initial_conn_window: 16 * 1024 * 1024,
            bdp_probe: true,
            max_frame_size: 16_384,
            max_header_list_size: 16 * 1024,
            max_receive_message_length: 4 * 1024 * 1024,
            user_agent: format!("h2grpc/{}", env!("CARGO_PKG_VERSION")),
            tls: None,
            proxy: None,
            compression: SendCompression::default(),
            keepalive: KeepaliveOptions::default(),
        }
    }
}

/// What calls need from their connection, shared between the driver and callers.
pub(crate) struct ConnHandle {
    pub id: u32,
    pub send_request: OnceLock<SendRequest<Bytes>>,
    pub shutdown: Notify,
    pub closed: AtomicBool,
    pub scheme: Scheme,
    pub authority: Authority,
    pub authority_str: String,
    pub user_agent: HeaderValue,
    pub max_receive_message_length: usize,
    pub compression: SendCompression,
    /// Encodings the server listed in `grpc-accept-encoding` (bit per
    /// `Encoding`, `ACCEPTS_KNOWN` once any response carried the header).
    accepts: AtomicU8,
    /// Whether calls count themselves in `active_calls`: only keepalive
    /// without `permit_without_calls` needs it, so other connections pay nothing.
    pub counts_calls: bool,
    pub active_calls: AtomicUsize,
    /// The h2 connection, for the embedder's thread to write calls it just
    /// started (`conn_cell.rs`); set once the handshake is done. Weak: the
    /// driver owns the connection, and dropping it when it ends is what
    /// fails the calls still on it.
    pub write_now: OnceLock<Weak<dyn WriteNow>>,
    /// Calls started on this connection and not yet ended (whatever
    /// `counts_calls` says): the embedder's thread writes only while there
    /// are few.
    pub open_calls: AtomicUsize,
}

const ACCEPTS_KNOWN: u8 = 0x80;

fn encoding_bit(e: Encoding) -> u8 {
    1 << (e as u8)
}

impl ConnHandle {
    /// Whether calls may send with `e`: until the server has said what it
    /// accepts, anything goes (grpc-js's rule).
    pub fn server_accepts(&self, e: Encoding) -> bool {
        let mask = self.accepts.load(Ordering::Relaxed);
        e == Encoding::Identity || mask & ACCEPTS_KNOWN == 0 || mask & encoding_bit(e) != 0
    }

    /// Records a response's `grpc-accept-encoding` (comma separated).
    pub fn set_server_accepts(&self, header: &[u8]) {
        let mut mask = ACCEPTS_KNOWN;
        for name in header.split(|&b| b == b',') {
            if let Some(e) = Encoding::from_name(name.trim_ascii()) {
                mask |= encoding_bit(e);
            }
        }
        self.accepts.store(mask, Ordering::Relaxed);
    }

    pub fn new(id: u32, opts: &ConnectOptions) -> Result<ConnHandle, String> {
        let authority = Authority::try_from(opts.authority.as_str())
            .map_err(|e| format!("Invalid authority {:?}: {e}", opts.authority))?;
        let user_agent = HeaderValue::try_from(opts.user_agent.as_str())
            .map_err(|e| format!("Invalid user agent {:?}: {e}", opts.user_agent))?;
        Ok(ConnHandle {
            id,
            send_request: OnceLock::new(),
            shutdown: Notify::new(),
            closed: AtomicBool::new(false),
            scheme: if opts.secure || opts.tls.is_some() {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            },
            authority,
            authority_str: opts.authority.clone(),
            user_agent,
            max_receive_message_length: opts.max_receive_message_length,
            compression: opts.compression,
            accepts: AtomicU8::new(0),
            counts_calls: opts.keepalive.time.is_some_and(|t| !t.is_zero())
                && !opts.keepalive.permit_without_calls,
            active_calls: AtomicUsize::new(0),
            write_now: OnceLock::new(),
            open_calls: AtomicUsize::new(0),
        })
    }
}

/// Runs the connection to its end and reports `Closed` with the reason.
pub(crate) async fn drive(handle: Arc<ConnHandle>, opts: ConnectOptions, shared: Arc<Shared>) {
    let mut guard = ClosedGuard {
        handle: &handle,
        shared: &shared,
        reason: None,
    };
    guard.reason = Some(match connect_and_serve(&handle, &opts, &shared).await {
        Ok(reason) => reason,
        Err(reason) => reason,
    });
}

/// Reports `Closed` exactly once, even if the driver is torn down early.
struct ClosedGuard<'a> {
    handle: &'a ConnHandle,
    shared: &'a Shared,
    reason: Option<String>,
}

impl Drop for ClosedGuard<'_> {
    fn drop(&mut self) {
        let reason = self.reason.take().unwrap_or_else(|| {
            "h2grpc: the connection's transport task ended unexpectedly".to_owned()
        });
        self.handle.closed.store(true, Ordering::Release);
        self.shared.remove_conn(self.handle.id);
        self.shared.queue.push(Event::Connection {
            conn: self.handle.id,
            event: ConnEvent::Closed { reason },
        });
    }
}

async fn connect_and_serve(
    handle: &ConnHandle,
    opts: &ConnectOptions,
    shared: &Shared,
) -> Result<String, String> {
    let started = Instant::now();
    let stream = tokio::select! {
        r = tokio::time::timeout(opts.connect_timeout, establish(handle, opts, shared)) => match r {
            Ok(r) => r?,
            Err(_) => return Err(format!(
                "connection to {} timed out after {} ms (dial, proxy and TLS handshake)",
                display(&opts.address),
                opts.connect_timeout.as_millis()
            )),
        },
        _ = handle.shutdown.notified() => return Ok("closed by client".to_owned()),
    };
    let remaining = opts.connect_timeout.saturating_sub(started.elapsed());
    serve(stream, handle, opts, shared, remaining).await
}

/// Dial, then the optional CONNECT tunnel, then the optional TLS handshake.
/// Reports the peer certificate (before READY) when the embedder asked for it.
async fn establish(
    handle: &ConnHandle,
    opts: &ConnectOptions,
    shared: &Shared,
) -> Result<Stream, String> {
    let mut socket = dial(&opts.address, opts.connect_timeout)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(proxy) = &opts.proxy {
        tunnel(&mut socket, proxy, &display(&opts.address)).await?;
    }
    let Some(tls) = &opts.tls else {
        return Ok(Stream::Plain(socket));
    };
    let (stream, peer) = tls_handshake(socket, tls).await.map_err(|e| {
        let to = opts.proxy.as_ref().map_or_else(
            || display(&opts.address),
            |p| format!("{} via proxy {}", p.target, display(&opts.address)),
        );
        format!("{e} (connecting to {to})")
    })?;
    if let Some(der) = peer {
        shared.queue.push(Event::Connection {
            conn: handle.id,
            event: ConnEvent::PeerCertificate { der: der.into() },
        });
    }
    Ok(Stream::Tls(Box::new(stream)))
}

/// Streams h2 remembers having reset, and for how long (h2's defaults). With
/// the patch a forgotten stream's late frames are ignored just like a
/// remembered one's, so a larger memory would only cost RAM.
const RESET_STREAMS_REMEMBERED: usize = 50;
const RESET_STREAM_MEMORY: Duration = Duration::from_secs(1);
/// Lifetime budget of resets the server's protocol errors force on us (h2's
/// default); exhausted, h2 ends the connection with GOAWAY ENHANCE_YOUR_CALM
/// "too_many_internal_resets".
const LOCAL_ERROR_RESETS: usize = 1024;

async fn serve<T>(
    io: T,
    handle: &ConnHandle,
    opts: &ConnectOptions,
    shared: &Shared,
    ready_timeout: Duration,
) -> Result<String, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let watch = Arc::new(FrameWatch::default());
    let io = Sniffer::new(io, watch.clone());
    let mut builder = h2::client::Builder::new();
    builder
        .enable_push(false)
        .initial_window_size(opts.initial_stream_window)
        .initial_connection_window_size(opts.initial_conn_window)
        .max_frame_size(opts.max_frame_size.clamp(16_384, 16_777_215))
        .max_header_list_size(opts.max_header_list_size)
        .data_frame_budget(data_frame_budget(opts))
        // Our cancels and deadlines are user resets, which h2 never counts;
        // frames still arriving for them are ignored whether h2 remembers
        // the stream or not (the patch in crates/h2), so these only bound
        // what a server can provoke: stream protocol errors (malformed or
        // oversized headers, window violations), each failing its call.
        .max_concurrent_reset_streams(RESET_STREAMS_REMEMBERED)
        .reset_stream_duration(RESET_STREAM_MEMORY)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS));
    let (send_request, mut conn) = builder.handshake::<_, Bytes>(io).await.map_err(|e| {
        format!(
            "HTTP/2 handshake with {} failed: {e}",
            display(&opts.address)
        )
    })?;
    let mut keepalive = Keepalive::new(&opts.keepalive);
    // One PING slot (h2 allows one user ping at a time), shared by BDP
    // estimation and keepalive.
    let mut ping_pong = if opts.bdp_probe || keepalive.is_some() {
        conn.ping_pong()
    } else {
        None
    };
    let cell = Arc::new(ConnCell::new(conn));
    let _ = handle
        .write_now
        .set(Arc::downgrade(&cell) as Weak<dyn WriteNow>);
    let _ = handle.send_request.set(send_request);
    let mut ping_in_flight = false;
    let mut bdp = BdpEstimator::new(opts.initial_stream_window);
    let mut pending_window: Option<u32> = None;
    let mut data_seen: u64 = 0;
    let mut ready = false;
    let mut goaways_reported = 0usize;
    let ready_deadline = tokio::time::sleep(ready_timeout);
    let mut ready_deadline = std::pin::pin!(ready_deadline);
    let shutdown = handle.shutdown.notified();
    let mut shutdown = std::pin::pin!(shutdown);
    // Only polled (so only in the timer wheel) while keepalive has a deadline.
    let ka_timer = tokio::time::sleep(Duration::ZERO);
    let mut ka_timer = std::pin::pin!(ka_timer);
    let mut ka_armed: Option<Instant> = None;

    poll_fn(|cx| {
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok("closed by client".to_owned()));
        }
        let Some(mut conn) = cell.try_lock() else {
            // The JS thread is sending on it and wakes us when done.
            return Poll::Pending;
        };
        let conn_done = conn.poll(cx);

        if !ready && watch.settings_seen.load(Ordering::Acquire) {
            ready = true;
            shared.queue.push(Event::Connection {
                conn: handle.id,
                event: ConnEvent::Ready,
            });
        }
        report_goaways(&watch, &mut goaways_reported, handle.id, shared);

        if let Poll::Ready(result) = conn_done {
            return Poll::Ready(match result {
                Ok(()) => Ok("connection closed by server".to_owned()),
                Err(e) => Err(describe_conn_error(&e)),
            });
        }
        if !ready && ready_deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(format!(
                "{} did not send HTTP/2 SETTINGS within {} ms",
                display(&opts.address),
                opts.connect_timeout.as_millis()
            )));
        }

        let Some(pp) = ping_pong.as_mut() else {
            return Poll::Pending;
        };
        let now = Instant::now();
        if opts.bdp_probe {
            // Data first, then the ACK: bytes that arrived before the ACK
            // belong to the sample. A BDP ping only ever follows DATA read
            // after the previous ACK, so each ping is preceded by server
            // data (grpc-go's server counts pings without it as strikes).
            let total = watch.data_bytes.load(Ordering::Relaxed);
            if total > data_seen {
                if bdp.on_data(total - data_seen, now, !ping_in_flight) {
                    // An error means the connection is failing; the next
                    // poll of `conn` says why.
                    ping_in_flight = pp.send_ping(Ping::opaque()).is_ok();
                }
                data_seen = total;
            }
        }
        if ping_in_flight {
            if let Poll::Ready(result) = pp.poll_pong(cx) {
                ping_in_flight = false;
                if result.is_ok() {
                    let now = Instant::now();
                    if let Some(w) = bdp.on_ack(now) {
                        pending_window = Some(w);
                    }
                    if let Some(ka) = keepalive.as_mut() {
                        ka.on_ack(now, handle.active_calls.load(Ordering::Relaxed) > 0);
                    }
                }
            }
        }
        if let Some(w) = pending_window {
            // BDP sizes the per-stream window; the connection window only
            // ever grows from its configured size.
            conn.conn
                .set_target_window_size(w.max(opts.initial_conn_window));
            // Refused while an earlier SETTINGS awaits its ACK: retried on a later poll.
            if conn.conn.set_initial_window_size(w).is_ok() {
                pending_window = None;
            }
        }
        if let Some(ka) = keepalive.as_mut() {
            let active = !handle.counts_calls || handle.active_calls.load(Ordering::Relaxed) > 0;
            match ka.poll(now, active) {
                Action::Nothing => {}
                // A BDP ping already out answers for liveness too.
                Action::SendPing if ping_in_flight => {}
                Action::SendPing => {
                    ping_in_flight = pp.send_ping(Ping::opaque()).is_ok();
                    // Poll again at once: the ACK section above then
                    // registers this task for the new ping's ACK.
                    cx.waker().wake_by_ref();
                }
                Action::TimedOut => {
                    return Poll::Ready(Err(format!(
                        "keepalive ping to {} not answered within {} ms",
                        display(&opts.address),
                        ka.timeout().as_millis()
                    )));
                }
            }
            match ka.next_deadline() {
                Some(at) => {
                    if ka_armed != Some(at) {
                        ka_timer.as_mut().reset(tokio::time::Instant::from_std(at));
                        ka_armed = Some(at);
                    }
                    if ka_timer.as_mut().poll(cx).is_ready() {
                        // Due now: run the state machine again.
                        ka_armed = None;
                        cx.waker().wake_by_ref();
                    }
                }
                None => ka_armed = None,
            }
        }
        Poll::Pending
    })
    .await
}

/// Smallest DATA frame that carries a whole gRPC message (an empty one).
const MIN_MESSAGE_FRAME: usize = 5;
/// h2 charges each DATA frame shorter than this many bytes the difference.
const H2_SMALL_FRAME: usize = 256;

/// h2's budget for small DATA frames held until the call reads them. Its
/// default (half the connection window, in h2's per-frame units) is spent by
/// about 33,000 empty messages or 36,000 16-byte ones; a server streaming
/// those through a BDP-grown window gets that far ahead of the call whenever
/// the call task runs a little late, and h2 then ends the connection with
/// GOAWAY ENHANCE_YOUR_CALM "too_many_data_frames" (seen as UNAVAILABLE
/// against grpc-go's benchmark server). Flow control already bounds the
/// unread bytes to the largest connection window we grant, so the budget
/// admits that window filled with the smallest whole gRPC messages and still
/// stops servers that split messages into tinier frames.
fn data_frame_budget(opts: &ConnectOptions) -> usize {
    let max_window = if opts.bdp_probe {
        opts.initial_conn_window.max(crate::bdp::BDP_LIMIT)
    } else {
        opts.initial_conn_window.max(opts.initial_stream_window)
    };
    (max_window as usize / MIN_MESSAGE_FRAME).saturating_mul(H2_SMALL_FRAME - MIN_MESSAGE_FRAME)
}

fn report_goaways(watch: &FrameWatch, reported: &mut usize, conn: u32, shared: &Shared) {
    let goaways = watch.goaways.lock().unwrap_or_else(|e| e.into_inner());
    if goaways.len() > *reported {
        shared
            .queue
            .push_all(goaways[*reported..].iter().map(|g| Event::Connection {
                conn,
                event: ConnEvent::GoAway {
                    code: g.code,
                    last_stream_id: g.last_stream_id,
                    debug: g.debug.clone(),
                },
            }));
        *reported = goaways.len();
    }
}

fn describe_conn_error(e: &h2::Error) -> String {
    if let Some(io) = e.get_io() {
        return format!("connection lost: {io}");
    }
    if e.is_go_away() {
        return format!("connection closed by GOAWAY: {e}");
    }
    format!("HTTP/2 connection error: {e}")
}
