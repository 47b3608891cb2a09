//! One RPC: request headers, the outgoing messages, and everything that comes
//! back, turned into events. Each call is one tokio task; JS talks to it
//! through a `Mailbox` keyed by the stream id.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream, SendStream};
use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use tokio::time::Instant;

use crate::compression::{
    encode_compressed, Encoding, RecvEncoding, SendCompression, ACCEPT_ENCODING,
};
use crate::connection::ConnHandle;
use crate::event::Event;
use crate::framing::Decoder;
use crate::mailbox::Mailbox;
use crate::queue::Stats;
use crate::recv_window::RecvWindow;
use crate::status::{
    code_from_http_status, not_sent_status, percent_decode, status_from_h2_error, Code, Status,
};
use crate::timeout::encode_timeout;
use crate::transport::Shared;

/// Commands from the embedder to a running call.
#[derive(Debug)]
pub enum Cmd {
    /// A framed message; `end` half-closes after it; `ack` asks for a
    /// `WriteAck` once the stream can take more.
    Data(Bytes, bool, bool),
    /// Like `Data` but unframed: the call compresses it on the I/O thread.
    Raw(Bytes, bool, bool),
    HalfClose,
    /// The embedder took this many more received messages: their bytes may
    /// go back to the stream's window (see `recv_window.rs`). Also ends a
    /// `PauseReads`.
    Read(u32),
    /// The embedder stopped taking messages: unread bytes stop going back
    /// to the window until the next `Read`.
    PauseReads,
}

static GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
static GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
static GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
static ACCEPT_ENCODING_HEADER: HeaderName = HeaderName::from_static("accept-encoding");
static ACCEPT_ENCODINGS: HeaderValue = HeaderValue::from_static(ACCEPT_ENCODING);
static IDENTITY: HeaderValue = HeaderValue::from_static("identity");
/// Per-call override of the channel's compression (as gRPC core reads it);
/// never sent on the wire.
const ENCODING_REQUEST: &str = "grpc-internal-encoding-request";
static APPLICATION_GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
static TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

/// Headers a user may not set through metadata: the transport owns them.
fn is_reserved(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-type"
            | "te"
            | "grpc-timeout"
            | "user-agent"
            | "host"
            | "connection"
            | "grpc-status"
            | "grpc-message"
            | "grpc-encoding"
            | "grpc-accept-encoding"
            | "accept-encoding"
            | "grpc-internal-encoding-request"
    )
}

/// Builds the request head per PROTOCOL-HTTP2. `metadata` is the flat
/// `key\0value\0key\0value` encoding the binding receives (values already
/// base64 for `-bin` keys). `compression` comes in as the channel's choice
/// and leaves as the call's (metadata may override it, the server may not
/// accept it); `grpc-encoding` is set from it.
pub(crate) fn build_request(
    conn: &ConnHandle,
    path: &str,
    authority: Option<&str>,
    metadata: &[u8],
    timeout: Option<Duration>,
    compression: &mut SendCompression,
) -> Result<Request<()>, Status> {
    let authority = match authority {
        None => conn.authority.clone(),
        Some(a) if a == conn.authority_str => conn.authority.clone(),
        Some(a) => a
            .parse()
            .map_err(|e| Status::new(Code::Internal, format!("Invalid authority {a:?}: {e}")))?,
    };
    let path_and_query = PathAndQuery::try_from(path)
        .map_err(|e| Status::new(Code::Internal, format!("Invalid method path {path:?}: {e}")))?;
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(conn.scheme.clone());
    parts.authority = Some(authority);
    parts.path_and_query = Some(path_and_query);
    let uri = Uri::from_parts(parts)
        .map_err(|e| Status::new(Code::Internal, format!("Invalid request URI: {e}")))?;

    let mut req = Request::new(());
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    let headers = req.headers_mut();
    headers.insert(TE, TRAILERS.clone());
    headers.insert(CONTENT_TYPE, APPLICATION_GRPC.clone());
    headers.insert(USER_AGENT, conn.user_agent.clone());
    if let Some(t) = timeout {
        if let Ok(v) = HeaderValue::try_from(encode_timeout(t)) {
            headers.insert(GRPC_TIMEOUT.clone(), v);
        }
    }
    if !metadata.is_empty() {
        let mut fields = metadata.split(|&b| b == 0);
        while let Some(key) = fields.next() {
            let value = fields.next().unwrap_or_default();
            let name = HeaderName::from_bytes(key).map_err(|_| {
                Status::new(
                    Code::Internal,
                    format!("Invalid metadata key {:?}", String::from_utf8_lossy(key)),
                )
            })?;
            if is_reserved(&name) {
                if name.as_str() == ENCODING_REQUEST {
                    if let Some(e) = Encoding::from_name(value) {
                        compression.encoding = e;
                    }
                }
                continue;
            }
            let value = HeaderValue::from_bytes(value).map_err(|_| {
                Status::new(
                    Code::Internal,
                    format!("Invalid metadata value for key {:?}", name.as_str()),
                )
            })?;
            headers.append(name, value);
        }
    }
    // Like grpc-js: once a server has listed what it accepts, only compress
    // with one of those.
    if !conn.server_accepts(compression.encoding) {
        compression.encoding = Encoding::Identity;
    }
    headers.insert(GRPC_ACCEPT_ENCODING.clone(), ACCEPT_ENCODINGS.clone());
    headers.insert(ACCEPT_ENCODING_HEADER.clone(), IDENTITY.clone());
    if compression.encoding != Encoding::Identity {
        headers.insert(
            GRPC_ENCODING.clone(),
            HeaderValue::from_static(compression.encoding.name()),
        );
    }
    Ok(req)
}

/// How far the request got before the call task runs.
// The whole CallTask is boxed, and a started call moves out of it at once.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Start {
    /// The task waits for a stream slot and sends the request itself.
    Pending {
        send_request: SendRequest<Bytes>,
        request: Request<()>,
        first: Option<Bytes>,
        /// `first` is unframed and waits for compression on the I/O thread.
        first_raw: bool,
    },
    /// Sent on the embedder's thread ([`CallTask::send_now`]).
    Sent {
        response: ResponseFuture,
        send: SendStream<Bytes>,
        half_closed: bool,
    },
    /// Sending failed on the embedder's thread.
    Failed(Status),
}

/// Everything a call task needs, prepared synchronously on the caller's thread.
pub(crate) struct CallTask {
    pub stream: u32,
    pub start: Start,
    pub compression: SendCompression,
    pub half_close: bool,
    pub deadline: Option<Instant>,
    pub max_receive_message_length: usize,
    /// Received messages go back to the window only once the embedder
    /// acknowledges them with `Cmd::Read`.
    pub acks_reads: bool,
    pub cmds: Arc<Mailbox>,
    pub conn: Arc<ConnHandle>,
}

impl CallTask {
    /// Sends the request now, on the calling (embedder's) thread, when a
    /// stream slot is free and nothing needs the I/O thread (compression):
    /// h2 queues the frames, and the connection's `send_and_write` then puts
    /// them on the socket without waiting for the I/O thread to wake up.
    /// Otherwise the task sends it, as before.
    pub fn send_now(&mut self) {
        let Start::Pending {
            send_request,
            first_raw: false,
            ..
        } = &mut self.start
        else {
            return;
        };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if !matches!(
            send_request.poll_ready(&mut cx),
            std::task::Poll::Ready(Ok(()))
        ) {
            // No slot, or a failing connection: the task waits or reports.
            return;
        }
        let placeholder = Start::Failed(Status::new(Code::Ok, ""));
        let Start::Pending {
            mut send_request,
            request,
            first,
            ..
        } = std::mem::replace(&mut self.start, placeholder)
        else {
            return;
        };
        self.start = match open_stream(&mut send_request, request, first, self.half_close) {
            Ok((response, send, half_closed)) => Start::Sent {
                response,
                send,
                half_closed,
            },
            Err(status) => Start::Failed(status),
        };
    }
}

/// Opens the call's stream with its first message, if any (h2 buffers it
/// without waiting for window: the first message always goes out with the
/// headers, which is what makes unary one round trip). Returns the stream's
/// halves and whether it is half-closed.
///
/// A first message the stream no longer takes is left to the response: the
/// server may have closed the stream already (a trailers-only error
/// answering the headers alone, read by the I/O thread while the JS thread
/// sends), and the response says why, as for any failed write.
fn open_stream(
    send_request: &mut SendRequest<Bytes>,
    request: Request<()>,
    first: Option<Bytes>,
    half_close: bool,
) -> Result<(ResponseFuture, SendStream<Bytes>, bool), Status> {
    let end_on_headers = half_close && first.is_none();
    let (response, mut send) = send_request
        .send_request(request, end_on_headers)
        .map_err(|e| not_sent_status(&e))?;
    let half_closed = match first {
        None => end_on_headers,
        Some(first) => {
            let sent = send.send_data(first, half_close).is_ok();
            half_close || !sent
        }
    };
    Ok((response, send, half_closed))
}

/// How the call ended: with a status to report, or cancelled by the embedder
/// (who has already reported its own status).
enum End {
    Status(Status, HeaderMap),
    Cancelled,
}

/// `task` comes boxed: an async fn stores its arguments for its whole life
/// and its locals beside them (rust-lang/rust#62958), so an unboxed task
/// would be held twice in every open call's future.
pub(crate) async fn run(task: Box<CallTask>, shared: Arc<Shared>) {
    let mut guard = EndGuard {
        stream: task.stream,
        shared: &shared,
        end: None,
    };
    guard.end = Some(drive(task, &shared).await);
}

/// Reports the call's end when the task finishes, and also if it is torn
/// down without finishing (a panic in this crate or the runtime shutting
/// down): the embedder must always get exactly one status per stream.
struct EndGuard<'a> {
    stream: u32,
    shared: &'a Shared,
    end: Option<End>,
}

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        self.shared.remove_stream(self.stream);
        let end = self.end.take().unwrap_or_else(|| {
            End::Status(
                Status::new(
                    Code::Internal,
                    "h2grpc: the call's transport task ended unexpectedly",
                ),
                HeaderMap::new(),
            )
        });
        if let End::Status(status, trailers) = end {
            self.shared.queue.push(Event::Status {
                stream: self.stream,
                code: status.code,
                message: status.message,
                trailers,
            });
        }
    }
}

/// Counts a call in its connection's `open_calls` and, when keepalive asks
/// (`counts_calls`: pings only while calls run), `active_calls`: from the
/// moment it is started on the embedder's thread, which may send its request
/// before the task runs (and the driver must see the call by then, or it
/// schedules no keepalive ping), until the task ends.
pub(crate) fn count_call(conn: &ConnHandle) {
    conn.open_calls.fetch_add(1, Ordering::Relaxed);
    if conn.counts_calls {
        conn.active_calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// Uncounts the call (see [`count_call`]) when its task ends.
struct ActiveCall<'a>(&'a ConnHandle);

impl Drop for ActiveCall<'_> {
    fn drop(&mut self) {
        self.0.open_calls.fetch_sub(1, Ordering::Relaxed);
        if self.0.counts_calls {
            self.0.active_calls.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Receive-side progress of the response.
enum Recv {
    Headers(ResponseFuture),
    Body(RecvStream),
    Trailers(RecvStream),
    /// Only while moving between states; never observed by the loop.
    Moving,
}

async fn drive(task: Box<CallTask>, shared: &Shared) -> End {
    let CallTask {
        stream,
        start,
        compression,
        half_close,
        deadline,
        max_receive_message_length,
        acks_reads,
        cmds,
        conn,
    } = *task;
    let _active = ActiveCall(&conn);
    // Without a deadline the sleep is never polled, so it never enters the
    // timer wheel: most calls pay nothing for it.
    let has_deadline = deadline.is_some();
    let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
    let mut sleep = std::pin::pin!(sleep);

    let mut early: Vec<Cmd> = Vec::new();
    let mut paused_early = false;
    let (response, mut send, mut half_closed) = match start {
        Start::Failed(status) => return End::Status(status, HeaderMap::new()),
        Start::Sent {
            response,
            send,
            half_closed,
        } => (response, send, half_closed),
        Start::Pending {
            send_request,
            request,
            first,
            first_raw,
        } => {
            // Wait for a stream slot (SETTINGS_MAX_CONCURRENT_STREAMS), racing the
            // deadline and cancellation. Writes that arrive meanwhile are kept, in
            // order, and sent once the stream exists.
            let mut ready = std::pin::pin!(send_request.ready());
            let mut send_request = loop {
                tokio::select! {
                    // Commands first: a call cancelled before its task ran (deferred
                    // mode: in the turn it was started) finds its mailbox closed and a
                    // stream slot ready at once, and must not be sent.
                    biased;
                    c = cmds.recv() => match c {
                        None => return End::Cancelled,
                        // Nothing has been received yet, so nothing can have been
                        // read; only whether the reader is paused carries over.
                        Some(Cmd::Read(_)) => paused_early = false,
                        Some(Cmd::PauseReads) => paused_early = true,
                        Some(cmd) => early.push(cmd),
                    },
                    r = &mut ready => match r {
                        Ok(sr) => break sr,
                        Err(e) => return End::Status(not_sent_status(&e), HeaderMap::new()),
                    },
                    _ = &mut sleep, if has_deadline => return deadline_exceeded(),
                }
            };
            let first = match first {
                Some(raw) if first_raw => Some(encode_compressed(compression, &raw)),
                first => first,
            };
            match open_stream(&mut send_request, request, first, half_close) {
                Ok(opened) => opened,
                Err(status) => return End::Status(status, HeaderMap::new()),
            }
        }
    };

    let mut recv = Recv::Headers(response);
    let mut decoder = Decoder::new(max_receive_message_length);
    let mut window = RecvWindow::new(acks_reads);
    if paused_early {
        window.on_pause();
    }
    // Writes that came before the stream existed go first, through the same
    // path as every later one.
    let mut writes = Writes {
        held: early.into(),
        compression,
        ..Writes::default()
    };
    writes.pump(&mut send, &mut half_closed, stream, shared);
    let mut batch: Vec<Event> = Vec::new();

    loop {
        tokio::select! {
            biased;
            _ = &mut sleep, if has_deadline => {
                send.send_reset(Reason::CANCEL);
                return deadline_exceeded();
            }
            cmd = cmds.recv(), if !writes.failed => match cmd {
                None => {
                    send.send_reset(Reason::CANCEL);
                    return End::Cancelled;
                }
                Some(Cmd::Read(count)) => {
                    window.on_read(count);
                    release_window(&mut recv, &mut window);
                }
                Some(Cmd::PauseReads) => window.on_pause(),
                Some(cmd) => {
                    writes.held.push_back(cmd);
                    writes.pump(&mut send, &mut half_closed, stream, shared);
                }
            },
            cap = poll_fn(|cx| send.poll_capacity(cx)), if writes.awaiting_capacity => {
                // Room in the send buffer again (or the stream is gone, in
                // which case the receive side reports the status).
                let _ = cap;
                writes.awaiting_capacity = false;
                if writes.ack_when_capacity {
                    shared.queue.push(Event::WriteAck { stream });
                }
                writes.pump(&mut send, &mut half_closed, stream, shared);
            }
            step = next_recv(&mut recv) => {
                match step {
                    Step::Headers(Ok(resp)) => {
                        let (parts, body) = resp.into_parts();
                        if let Some(end) = check_response_head(parts.status.as_u16(), &parts.headers) {
                            send.send_reset(Reason::CANCEL);
                            return end;
                        }
                        if body.is_end_stream() {
                            // Trailers-only response: the status is in the headers.
                            return status_from_trailers(parts.headers);
                        }
                        let mut metadata = parts.headers;
                        // Transport-level negotiation, not user metadata (grpc-js hides them too).
                        let encoding = metadata.remove(&GRPC_ENCODING);
                        decoder.set_encoding(RecvEncoding::from_header(encoding.as_ref().map(HeaderValue::as_bytes)));
                        let accepted = metadata.remove(&GRPC_ACCEPT_ENCODING);
                        // Only connections that compress care what the server
                        // accepts: the others skip parsing it on every call.
                        let compressing = writes.compression.encoding != Encoding::Identity
                            || conn.compression.encoding != Encoding::Identity;
                        if let (Some(accepted), true) = (accepted, compressing) {
                            conn.set_server_accepts(accepted.as_bytes());
                            if !conn.server_accepts(writes.compression.encoding) {
                                writes.compression.encoding = Encoding::Identity;
                            }
                        }
                        shared.queue.push(Event::Headers { stream, metadata });
                        recv = Recv::Body(body);
                    }
                    Step::Data(Ok(chunk)) => {
                        let len = chunk.len();
                        let copied_before = decoder.bytes_copied();
                        // One message per chunk is the common case: push it
                        // alone instead of growing a batch vector per call.
                        let mut single: Option<Event> = None;
                        window.on_data(len);
                        if acks_reads {
                            // The connection window reopens on receipt, the
                            // stream window only as JS reads (grpc-go's
                            // split): a stalled reader holds back its own
                            // stream, never the connection's others. (A
                            // patch of h2: crates/h2/H2GRPC-PATCH.md.)
                            if let Recv::Body(body) = &mut recv {
                                let _ = body.flow_control().release_connection_capacity(len);
                            }
                        }
                        let fed = decoder.feed(chunk, |data, wire_len| {
                            window.on_message(wire_len);
                            let ev = Event::Message { stream, data };
                            match single.take() {
                                None => single = Some(ev),
                                Some(prev) => {
                                    batch.push(prev);
                                    batch.push(ev);
                                }
                            }
                        });
                        if let Some(ev) = single {
                            if batch.is_empty() {
                                shared.queue.push(ev);
                            } else {
                                batch.push(ev);
                            }
                        }
                        release_window(&mut recv, &mut window);
                        Stats::add(&shared.queue.stats.bytes_copied, (decoder.bytes_copied() - copied_before) as u64);
                        if !batch.is_empty() {
                            shared.queue.push_all(batch.drain(..));
                        }
                        if let Err(e) = fed {
                            send.send_reset(Reason::CANCEL);
                            return End::Status(e.to_status(), HeaderMap::new());
                        }
                    }
                    Step::BodyEnd => {
                        if let Err(e) = decoder.finish() {
                            send.send_reset(Reason::CANCEL);
                            return End::Status(e.to_status(), HeaderMap::new());
                        }
                        recv = match std::mem::replace(&mut recv, Recv::Moving) {
                            Recv::Body(body) => Recv::Trailers(body),
                            other => other,
                        };
                    }
                    Step::Trailers(Ok(Some(trailers))) => return status_from_trailers(trailers),
                    Step::Trailers(Ok(None)) => {
                        return End::Status(
                            Status::new(Code::Internal, "Server closed the stream without sending trailers"),
                            HeaderMap::new(),
                        )
                    }
                    Step::Headers(Err(e)) | Step::Data(Err(e)) | Step::Trailers(Err(e)) => {
                        return stream_error(&e, deadline);
                    }
                }
            }
        }
    }
}

/// The send side's queue of embedder commands. Commands are applied in order;
/// once a write leaves the stream without send capacity, later ones wait
/// here. The mailbox is still polled meanwhile, so a cancel is seen at once
/// even when the server never opens the window again.
#[derive(Default)]
struct Writes {
    held: VecDeque<Cmd>,
    awaiting_capacity: bool,
    /// Whether the write that waits for capacity asked to be acknowledged.
    ack_when_capacity: bool,
    /// A write failed: the stream is broken and the receive side reports how,
    /// so no further command is taken.
    failed: bool,
    /// How `Cmd::Raw` messages are framed.
    compression: SendCompression,
}

impl Writes {
    /// Applies held commands until one has to wait for send capacity.
    fn pump(
        &mut self,
        send: &mut SendStream<Bytes>,
        half_closed: &mut bool,
        stream: u32,
        shared: &Shared,
    ) {
        while !self.awaiting_capacity && !self.failed {
            let Some(cmd) = self.held.pop_front() else {
                return;
            };
            match apply(cmd, send, half_closed, stream, shared, self.compression) {
                Applied::Done => {}
                Applied::AwaitCapacity(ack) => {
                    self.awaiting_capacity = true;
                    self.ack_when_capacity = ack;
                }
                Applied::Failed => self.failed = true,
            }
        }
    }
}

/// What became of one embedder command.
enum Applied {
    Done,
    /// The write went to h2 but the stream has no send capacity left: later
    /// writes (and its `WriteAck`, if asked for) wait for `poll_capacity`.
    AwaitCapacity(bool),
    Failed,
}

/// Applies one embedder command to the stream's send half.
fn apply(
    cmd: Cmd,
    send: &mut SendStream<Bytes>,
    half_closed: &mut bool,
    stream: u32,
    shared: &Shared,
    compression: SendCompression,
) -> Applied {
    if *half_closed {
        return Applied::Done;
    }
    let (data, end, ack) = match cmd {
        Cmd::Data(data, end, ack) => (data, end, ack),
        Cmd::Raw(raw, end, ack) => (encode_compressed(compression, &raw), end, ack),
        Cmd::HalfClose => {
            let _ = send.send_data(Bytes::new(), true);
            *half_closed = true;
            return Applied::Done;
        }
        // Taken by the receive side before it reaches the write queue.
        Cmd::Read(_) | Cmd::PauseReads => return Applied::Done,
    };
    if send.send_data(data, end).is_err() {
        return Applied::Failed;
    }
    *half_closed = end;
    if end {
        if ack {
            shared.queue.push(Event::WriteAck { stream });
        }
        return Applied::Done;
    }
    // Ask for room beyond what is now buffered. h2 grants it at once
    // while the peer's window and the send buffer limit allow, so the
    // usual write is acknowledged here, without another task wake-up;
    // only a full window or buffer makes the writer wait.
    send.reserve_capacity(1);
    if send.capacity() > 0 {
        if ack {
            shared.queue.push(Event::WriteAck { stream });
        }
        Applied::Done
    } else {
        Applied::AwaitCapacity(ack)
    }
}

/// Hands what `window` allows back to the stream's flow-control window (and
/// the connection's, for bytes it did not get back on receipt); h2 sends
/// WINDOW_UPDATE once enough has been released.
fn release_window(recv: &mut Recv, window: &mut RecvWindow) {
    let n = window.releasable();
    if n == 0 {
        return;
    }
    if let Recv::Body(body) | Recv::Trailers(body) = recv {
        let _ = body.flow_control().release_capacity(n);
    }
}

enum Step {
    Headers(Result<http::Response<RecvStream>, h2::Error>),
    Data(Result<Bytes, h2::Error>),
    BodyEnd,
    Trailers(Result<Option<HeaderMap>, h2::Error>),
}

async fn next_recv(recv: &mut Recv) -> Step {
    match recv {
        Recv::Headers(fut) => Step::Headers(fut.await),
        Recv::Body(body) => match body.data().await {
            Some(r) => Step::Data(r),
            None => Step::BodyEnd,
        },
        Recv::Trailers(body) => Step::Trailers(body.trailers().await),
        Recv::Moving => std::future::pending().await,
    }
}

/// The call's end when its stream fails. A server whose copy of the deadline
/// (`grpc-timeout`) ran out resets the stream with CANCEL, which can arrive
/// before our own timer has been polled: once our deadline has passed, that
/// CANCEL is the deadline's doing and the call ends DEADLINE_EXCEEDED, as
/// grpc-go's client reports it (`http2_client.go`, handleRSTStream).
fn stream_error(e: &h2::Error, deadline: Option<Instant>) -> End {
    at_deadline(status_from_h2_error(e), deadline)
}

/// `status` as the call's end, unless it is the CANCELLED of a server reset
/// (the only source of that code here) after the deadline passed.
fn at_deadline(status: Status, deadline: Option<Instant>) -> End {
    if status.code == Code::Cancelled && deadline.is_some_and(|d| Instant::now() >= d) {
        return deadline_exceeded();
    }
    End::Status(status, HeaderMap::new())
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

fn deadline_exceeded() -> End {
    End::Status(
        Status::new(Code::DeadlineExceeded, "Deadline exceeded"),
        HeaderMap::new(),
    )
}

/// Validates `:status` and `content-type` before anything else is trusted.
fn check_response_head(http_status: u16, headers: &HeaderMap) -> Option<End> {
    if http_status != 200 {
        return Some(End::Status(
            Status::new(
                code_from_http_status(http_status),
                format!("Received HTTP status code {http_status}"),
            ),
            HeaderMap::new(),
        ));
    }
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    match content_type {
        Some(ct) if ct.starts_with(b"application/grpc") => None,
        _ => Some(End::Status(
            Status::new(
                Code::Unknown,
                format!(
                    "Received unexpected content-type {:?}",
                    content_type
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default()
                ),
            ),
            HeaderMap::new(),
        )),
    }
}

/// Reads `grpc-status` and `grpc-message` out of trailers (or a trailers-only
/// response); what remains is the user's trailing metadata.
fn status_from_trailers(mut trailers: HeaderMap) -> End {
    let code = trailers.remove(&GRPC_STATUS);
    let message = trailers.remove(&GRPC_MESSAGE);
    let message = message
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    let status = match code {
        Some(c) => match Code::from_header(c.as_bytes()) {
            Some(code) => Status::new(code, message),
            None => Status::new(
                Code::Unknown,
                format!(
                    "Received invalid grpc-status {:?}",
                    String::from_utf8_lossy(c.as_bytes())
                ),
            ),
        },
        None => Status::new(Code::Unknown, "Server ended the call without a grpc-status"),
    };
    trailers.remove(CONTENT_TYPE);
    End::Status(status, trailers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(end: End) -> Code {
        match end {
            End::Status(status, _) => status.code,
            End::Cancelled => panic!("not a status"),
        }
    }

    #[test]
    fn a_server_cancel_once_the_deadline_passed_is_deadline_exceeded() {
        let cancel = || {
            Status::new(
                Code::Cancelled,
                "Stream reset by server with code CANCEL (8)",
            )
        };
        let past = Instant::now() - Duration::from_millis(1);
        let future = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            code_of(at_deadline(cancel(), Some(past))),
            Code::DeadlineExceeded
        );
        assert_eq!(
            code_of(at_deadline(cancel(), Some(future))),
            Code::Cancelled
        );
        assert_eq!(code_of(at_deadline(cancel(), None)), Code::Cancelled);
        // Other ends keep their own code after the deadline.
        let lost = Status::new(Code::Unavailable, "Connection lost");
        assert_eq!(code_of(at_deadline(lost, Some(past))), Code::Unavailable);
    }
}
