//! Integration tests: the real `Transport` against a real HTTP/2 server (h2's
//! server side) on 127.0.0.1, scripted per test. Nothing here mocks the
//! transport; every event checked is one the embedder would see.
//!
//! Every wait is bounded (`EVENT_TIMEOUT` per awaited event, `TEST_TIMEOUT`
//! per test), so a regression fails instead of hanging.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2::server::{Builder, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use h2core::{
    decode_timeout, encode_message, Address, Code, ConnEvent, ConnectOptions, Decoder, Event,
    StartCall, Transport, Wake, UNREAD_ALLOWANCE,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{timeout, timeout_at, Instant};

const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a test body under the overall time bound.
async fn bounded<F: Future<Output = ()>>(body: F) {
    if timeout(TEST_TIMEOUT, body).await.is_err() {
        panic!("test did not finish within {TEST_TIMEOUT:?}");
    }
}

/// Receives from a server-side observation channel, bounded.
async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    match timeout(EVENT_TIMEOUT, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("server-side channel closed while waiting for {what}"),
        Err(_) => panic!("timed out waiting for the server to observe {what}"),
    }
}

// ---------------------------------------------------------------------------
// Client side: the real Transport, events collected through `Wake`.
// ---------------------------------------------------------------------------

struct NotifyWake(Arc<Notify>);

impl Wake for NotifyWake {
    fn wake(&self) {
        self.0.notify_one();
    }
}

struct Client {
    t: Transport,
    notify: Arc<Notify>,
    /// Drained but not yet consumed, in arrival order.
    backlog: VecDeque<Event>,
}

/// Everything one call reported, in order.
#[derive(Debug)]
struct CallResult {
    headers: Option<HeaderMap>,
    messages: Vec<Bytes>,
    acks: usize,
    code: Code,
    message: String,
    trailers: HeaderMap,
}

fn stream_of(e: &Event) -> Option<u32> {
    match e {
        Event::Headers { stream, .. }
        | Event::Message { stream, .. }
        | Event::WriteAck { stream }
        | Event::Status { stream, .. } => Some(*stream),
        Event::Connection { .. } => None,
    }
}

fn is_conn_event(e: &Event, id: u32) -> bool {
    matches!(e, Event::Connection { conn, .. } if *conn == id)
}

impl Client {
    fn new() -> Client {
        let notify = Arc::new(Notify::new());
        Client {
            t: Transport::new(Box::new(NotifyWake(notify.clone()))),
            notify,
            backlog: VecDeque::new(),
        }
    }

    fn pull(&mut self) {
        let batch = self.t.drain(Vec::new());
        self.backlog.extend(batch);
    }

    /// Waits for the first event matching `pred` (earlier unmatched events stay
    /// queued, so per-stream order is preserved for later waits).
    async fn wait_for(&mut self, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let notify = self.notify.clone();
        loop {
            self.pull();
            if let Some(i) = self.backlog.iter().position(&mut pred) {
                return self.backlog.remove(i).expect("position is in range");
            }
            if timeout_at(deadline, notify.notified()).await.is_err() {
                panic!(
                    "timed out waiting for {what}; unconsumed events: {:?}",
                    self.backlog
                );
            }
        }
    }

    async fn conn_event(&mut self, conn: u32) -> ConnEvent {
        match self
            .wait_for(&format!("an event of connection {conn}"), |e| {
                is_conn_event(e, conn)
            })
            .await
        {
            Event::Connection { event, .. } => event,
            _ => unreachable!(),
        }
    }

    /// Connects and waits for Ready.
    async fn connect(&mut self, opts: ConnectOptions) -> u32 {
        let id = self.t.connect(opts);
        match self.conn_event(id).await {
            ConnEvent::Ready => id,
            other => panic!("expected Ready for connection {id}, got {other:?}"),
        }
    }

    async fn connect_tcp(&mut self, addr: SocketAddr) -> u32 {
        self.connect(tcp_options(addr)).await
    }

    /// Collects a call's events up to and including its Status.
    async fn finish(&mut self, stream: u32) -> CallResult {
        let mut headers = None;
        let mut messages = Vec::new();
        let mut acks = 0;
        loop {
            let e = self
                .wait_for(&format!("the status of stream {stream}"), |e| {
                    stream_of(e) == Some(stream)
                })
                .await;
            match e {
                Event::Headers { metadata, .. } => {
                    assert!(headers.is_none(), "stream {stream}: two Headers events");
                    assert!(
                        messages.is_empty(),
                        "stream {stream}: Headers after a Message"
                    );
                    headers = Some(metadata);
                }
                Event::Message { data, .. } => messages.push(data),
                Event::WriteAck { .. } => acks += 1,
                Event::Status {
                    code,
                    message,
                    trailers,
                    ..
                } => {
                    return CallResult {
                        headers,
                        messages,
                        acks,
                        code,
                        message,
                        trailers,
                    }
                }
                Event::Connection { .. } => unreachable!(),
            }
        }
    }

    /// Collects several calls at once (for the concurrency tests).
    async fn finish_all(&mut self, streams: &[u32], within: Duration) -> HashMap<u32, CallResult> {
        let deadline = Instant::now() + within;
        let mut partial: HashMap<u32, CallResult> = streams
            .iter()
            .map(|&s| {
                (
                    s,
                    CallResult {
                        headers: None,
                        messages: Vec::new(),
                        acks: 0,
                        code: Code::Unknown,
                        message: "<no status>".into(),
                        trailers: HeaderMap::new(),
                    },
                )
            })
            .collect();
        let mut done: HashMap<u32, CallResult> = HashMap::new();
        let notify = self.notify.clone();
        while !partial.is_empty() {
            self.pull();
            let mut keep = VecDeque::new();
            for e in self.backlog.drain(..) {
                let Some(r) = stream_of(&e).and_then(|s| partial.get_mut(&s)) else {
                    keep.push_back(e);
                    continue;
                };
                match e {
                    Event::Headers { metadata, .. } => r.headers = Some(metadata),
                    Event::Message { data, .. } => r.messages.push(data),
                    Event::WriteAck { .. } => r.acks += 1,
                    Event::Status {
                        stream,
                        code,
                        message,
                        trailers,
                    } => {
                        let mut r = partial.remove(&stream).expect("present");
                        r.code = code;
                        r.message = message;
                        r.trailers = trailers;
                        done.insert(stream, r);
                    }
                    Event::Connection { .. } => unreachable!(),
                }
            }
            self.backlog = keep;
            if partial.is_empty() {
                break;
            }
            if timeout_at(deadline, notify.notified()).await.is_err() {
                panic!(
                    "timed out: {} of {} calls did not finish, e.g. {:?}",
                    partial.len(),
                    streams.len(),
                    partial.iter().next()
                );
            }
        }
        done
    }

    /// Everything that arrives during `d` (plus what was already queued).
    async fn events_during(&mut self, d: Duration) -> Vec<Event> {
        tokio::time::sleep(d).await;
        self.pull();
        self.backlog.drain(..).collect()
    }

    fn start(&self, call: StartCall<'_>) -> u32 {
        self.t.start_call(call)
    }

    fn start_unary(&self, conn: u32, path: &str, message: &[u8]) -> u32 {
        self.start(StartCall {
            conn,
            path,
            message: Some(message),
            half_close: true,
            ..Default::default()
        })
    }

    async fn unary(&mut self, conn: u32, path: &str, message: &[u8]) -> CallResult {
        let id = self.start_unary(conn, path, message);
        self.finish(id).await
    }

    /// A normal call on `conn` still works (the connection is not poisoned).
    async fn assert_healthy(&mut self, conn: u32, after: &str) {
        let r = self.unary(conn, "/test.Echo/Unary", b"still alive").await;
        assert_eq!(r.code, Code::Ok, "call after {after} failed: {r:?}");
        assert_eq!(
            r.messages,
            vec![Bytes::from_static(b"still alive")],
            "after {after}"
        );
        assert!(
            !self
                .backlog
                .iter()
                .any(|e| matches!(e, Event::Connection { conn: c, event: ConnEvent::Closed { .. } } if *c == conn)),
            "connection closed after {after}: {:?}",
            self.backlog
        );
    }
}

fn tcp_options(addr: SocketAddr) -> ConnectOptions {
    ConnectOptions::new(
        Address::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        format!("localhost:{}", addr.port()),
    )
}

// ---------------------------------------------------------------------------
// Server side: a real h2 server whose per-request behaviour each test scripts.
// ---------------------------------------------------------------------------

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;
type Handler = Arc<dyn Fn(Request<RecvStream>, SendResponse<Bytes>) -> BoxFut + Send + Sync>;

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request<RecvStream>, SendResponse<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |req, resp| Box::pin(f(req, resp)))
}

/// What the test asks of the server's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctl {
    Run,
    Graceful,
    Abrupt(Reason),
    /// Drop every connection and the listener, without any HTTP/2 goodbye.
    Kill,
}

struct TestServer {
    addr: SocketAddr,
    ctl: watch::Sender<Ctl>,
}

impl TestServer {
    fn control(&self, c: Ctl) {
        self.ctl.send_replace(c);
    }
}

async fn start_server(builder: Builder, handler: Handler) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (ctl, ctl_rx) = watch::channel(Ctl::Run);
    tokio::spawn(async move {
        // Dropping this set (when the task ends) aborts every connection.
        let mut conns = tokio::task::JoinSet::new();
        let mut rx = ctl_rx.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((sock, _)) = accepted else { return };
                    conns.spawn(serve_conn(sock, builder.clone(), handler.clone(), ctl_rx.clone()));
                }
                changed = rx.changed() => {
                    if changed.is_err() || *rx.borrow_and_update() == Ctl::Kill {
                        return;
                    }
                }
            }
        }
    });
    TestServer { addr, ctl }
}

async fn serve_conn<T>(io: T, builder: Builder, handler: Handler, mut ctl: watch::Receiver<Ctl>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(mut conn) = builder.handshake::<_, Bytes>(io).await else {
        return;
    };
    let mut ctl_open = true;
    loop {
        tokio::select! {
            accepted = conn.accept() => match accepted {
                Some(Ok((req, resp))) => {
                    tokio::spawn(handler(req, resp));
                }
                _ => return,
            },
            changed = ctl.changed(), if ctl_open => {
                if changed.is_err() {
                    ctl_open = false;
                    continue;
                }
                let c = *ctl.borrow_and_update();
                match c {
                    Ctl::Run => {}
                    Ctl::Graceful => conn.graceful_shutdown(),
                    Ctl::Abrupt(reason) => conn.abrupt_shutdown(reason),
                    Ctl::Kill => return,
                }
            }
        }
    }
}

fn grpc_head() -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    r
}

fn grpc_trailers(code: &str, message: Option<&str>) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert(
        "grpc-status",
        HeaderValue::from_str(code).expect("status value"),
    );
    if let Some(m) = message {
        t.insert(
            "grpc-message",
            HeaderValue::from_str(m).expect("message value"),
        );
    }
    t
}

/// Reads a request body to its end, releasing flow control as it goes.
/// Returns the DATA payloads as they arrived.
async fn read_body(body: &mut RecvStream) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("request body");
        let _ = body.flow_control().release_capacity(chunk.len());
        chunks.push(chunk);
    }
    chunks
}

fn unframe(chunks: &[Bytes]) -> Vec<Bytes> {
    let mut d = Decoder::new(usize::MAX);
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c.clone(), |m, _| out.push(m))
            .expect("well-framed request");
    }
    d.finish().expect("request ends on a message boundary");
    out
}

async fn reset_of_response(resp: &mut SendResponse<Bytes>) -> Option<Reason> {
    poll_fn(|cx| resp.poll_reset(cx)).await.ok()
}

async fn reset_of_stream(s: &mut SendStream<Bytes>) -> Option<Reason> {
    poll_fn(|cx| s.poll_reset(cx)).await.ok()
}

/// Sends a normal gRPC response: head, messages, OK trailers.
fn reply_ok(mut resp: SendResponse<Bytes>, messages: &[Bytes]) {
    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
        return;
    };
    for m in messages {
        let _ = s.send_data(encode_message(m), false);
    }
    let _ = s.send_trailers(grpc_trailers("0", None));
}

/// Unary/streaming echo: every request message comes back, then OK.
async fn echo(req: Request<RecvStream>, resp: SendResponse<Bytes>) {
    let mut body = req.into_body();
    let chunks = read_body(&mut body).await;
    reply_ok(resp, &unframe(&chunks));
}

// ---------------------------------------------------------------------------
// 1. Unary round trip
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct SeenRequest {
    method: http::Method,
    uri: http::Uri,
    headers: HeaderMap,
    chunks: Vec<Bytes>,
    end_with_first_data: bool,
}

#[tokio::test]
async fn unary_round_trip_follows_the_protocol() {
    bounded(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<SeenRequest>();
        let server = start_server(
            Builder::new(),
            handler(
                move |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| {
                    let tx = tx.clone();
                    async move {
                        let (parts, mut body) = req.into_parts();
                        let mut chunks = Vec::new();
                        let mut end_with_first_data = false;
                        while let Some(chunk) = body.data().await {
                            let chunk = chunk.expect("request body");
                            let _ = body.flow_control().release_capacity(chunk.len());
                            if chunks.is_empty() {
                                end_with_first_data = body.is_end_stream();
                            }
                            chunks.push(chunk);
                        }
                        let _ = tx.send(SeenRequest {
                            method: parts.method,
                            uri: parts.uri,
                            headers: parts.headers,
                            chunks,
                            end_with_first_data,
                        });
                        let mut head = grpc_head();
                        head.headers_mut()
                            .insert("x-resp", HeaderValue::from_static("head-value"));
                        head.headers_mut()
                            .insert("x-resp-bin", HeaderValue::from_static("AAEC"));
                        let Ok(mut s) = resp.send_response(head, false) else {
                            return;
                        };
                        let _ = s.send_data(encode_message(b"pong"), false);
                        let mut t = grpc_trailers("0", Some("fine"));
                        t.insert("x-trail", HeaderValue::from_static("t1"));
                        t.append("x-trail", HeaderValue::from_static("t2"));
                        let _ = s.send_trailers(t);
                    }
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let metadata =
            b"x-custom\0value1\0x-custom\0value2\0x-trace-bin\0AAECAw==\0content-type\0text/plain";
        let id = c.start(StartCall {
            conn,
            path: "/test.Echo/Unary",
            metadata,
            timeout: Some(Duration::from_secs(5)),
            message: Some(b"ping"),
            half_close: true,
            ..Default::default()
        });
        let r = c.finish(id).await;

        let seen = recv(&mut rx, "the request").await;
        assert_eq!(seen.method, http::Method::POST);
        assert_eq!(seen.uri.scheme_str(), Some("http"));
        assert_eq!(seen.uri.path(), "/test.Echo/Unary");
        assert_eq!(
            seen.uri.authority().map(|a| a.as_str().to_owned()),
            Some(format!("localhost:{}", server.addr.port()))
        );
        let h = &seen.headers;
        assert_eq!(
            h.get("te").map(HeaderValue::as_bytes),
            Some(&b"trailers"[..])
        );
        let content_types: Vec<_> = h.get_all("content-type").iter().collect();
        assert_eq!(
            content_types,
            vec!["application/grpc"],
            "user metadata must not override content-type"
        );
        let ua = h
            .get("user-agent")
            .expect("user-agent")
            .to_str()
            .expect("ascii");
        assert!(ua.starts_with("h2grpc/"), "user-agent {ua:?}");
        let grpc_timeout = h
            .get("grpc-timeout")
            .expect("grpc-timeout")
            .to_str()
            .expect("ascii");
        let t = decode_timeout(grpc_timeout).expect("valid grpc-timeout");
        assert!(
            t <= Duration::from_secs(5) + Duration::from_millis(1) && t > Duration::from_secs(4),
            "grpc-timeout {grpc_timeout}"
        );
        let custom: Vec<_> = h.get_all("x-custom").iter().collect();
        assert_eq!(custom, vec!["value1", "value2"]);
        assert_eq!(
            h.get("x-trace-bin").map(HeaderValue::as_bytes),
            Some(&b"AAECAw=="[..])
        );
        assert_eq!(seen.chunks.len(), 1, "one DATA frame: {:?}", seen.chunks);
        assert_eq!(
            &seen.chunks[0][..],
            &[0, 0, 0, 0, 4, b'p', b'i', b'n', b'g'][..]
        );
        assert!(
            seen.end_with_first_data,
            "END_STREAM must come with the message"
        );

        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(r.message, "fine");
        let headers = r.headers.expect("Headers event");
        assert_eq!(
            headers.get("x-resp").map(HeaderValue::as_bytes),
            Some(&b"head-value"[..])
        );
        assert_eq!(
            headers.get("x-resp-bin").map(HeaderValue::as_bytes),
            Some(&b"AAEC"[..])
        );
        assert!(
            headers.keys().all(|k| !k.as_str().starts_with(':')),
            "{headers:?}"
        );
        assert_eq!(r.messages, vec![Bytes::from_static(b"pong")]);
        let trailing: Vec<_> = r.trailers.get_all("x-trail").iter().collect();
        assert_eq!(trailing, vec!["t1", "t2"]);
        assert!(r.trailers.get("grpc-status").is_none(), "{:?}", r.trailers);
        assert!(r.trailers.get("grpc-message").is_none(), "{:?}", r.trailers);

        // Without a timeout there is no grpc-timeout; an authority override wins.
        let id = c.start(StartCall {
            conn,
            path: "/test.Echo/Unary",
            authority: Some("override.example:8443"),
            message: Some(b""),
            half_close: true,
            ..Default::default()
        });
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(r.messages, vec![Bytes::from_static(b"pong")]);
        let seen = recv(&mut rx, "the second request").await;
        assert!(
            seen.headers.get("grpc-timeout").is_none(),
            "{:?}",
            seen.headers
        );
        assert_eq!(
            seen.uri.authority().map(|a| a.as_str()),
            Some("override.example:8443")
        );
        assert_eq!(&seen.chunks[0][..], &[0, 0, 0, 0, 0][..]);
        assert_eq!(c.t.active_streams(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// 2. Reassembly across DATA frames
// ---------------------------------------------------------------------------

fn test_messages() -> Vec<Bytes> {
    let mut msgs: Vec<Bytes> = vec![
        Bytes::new(),
        Bytes::from_static(b"x"),
        Bytes::from((0..100u8).collect::<Vec<_>>()),
        Bytes::from((0..70_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()),
    ];
    for i in 0..6u8 {
        msgs.push(Bytes::from(vec![i; usize::from(i) * 3]));
    }
    msgs.push(Bytes::from(
        (0..20_000u32).map(|i| (i % 13) as u8).collect::<Vec<_>>(),
    ));
    msgs
}

#[tokio::test]
async fn server_stream_reassembles_split_and_packed_messages() {
    bounded(async {
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| async move {
                    let mut body = req.into_body();
                    read_body(&mut body).await;
                    let msgs = test_messages();
                    let mut wire = BytesMut::new();
                    for m in &msgs {
                        wire.put_slice(&encode_message(m));
                    }
                    let mut wire = wire.freeze();
                    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                        return;
                    };
                    // The first messages byte by byte and in odd-sized pieces
                    // (each send_data is its own DATA frame), then the six small
                    // messages packed into a single frame, then the rest.
                    let split_part = 5 + 5 + 1 + 5 + 100 + 5 + 70_000;
                    let mut sent = 0;
                    let mut step = 1;
                    while sent < split_part {
                        let n = step.min(split_part - sent);
                        let _ = s.send_data(wire.split_to(n), false);
                        sent += n;
                        step = if sent < 200 {
                            1
                        } else {
                            (step * 7 + 3) % 4093 + 1
                        };
                    }
                    let packed: usize = (0..6).map(|i| 5 + i * 3).sum();
                    let _ = s.send_data(wire.split_to(packed), false);
                    let _ = s.send_data(wire, false);
                    let _ = s.send_trailers(grpc_trailers("0", None));
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let r = c.unary(conn, "/test.Stream/Out", b"go").await;
        assert_eq!(r.code, Code::Ok, "{}", r.message);
        let want = test_messages();
        assert_eq!(r.messages.len(), want.len());
        for (i, (got, want)) in r.messages.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "message {i}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// 3. grpc-message percent decoding; 4. trailers-only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn grpc_message_is_percent_decoded() {
    bounded(async {
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| async move {
                    let mut body = req.into_body();
                    read_body(&mut body).await;
                    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                        return;
                    };
                    // 'ünïcödé %41 日本': the literal "%41" is sent as "%2541" and
                    // must not be decoded twice.
                    let _ = s.send_trailers(grpc_trailers(
                        "3",
                        Some("%C3%BCn%C3%AFc%C3%B6d%C3%A9 %2541 %E6%97%A5%E6%9C%AC"),
                    ));
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let r = c.unary(conn, "/test.Fail/Unicode", b"").await;
        assert_eq!(r.code, Code::InvalidArgument);
        assert_eq!(r.message, "ünïcödé %41 日本");
        assert!(r.headers.is_some());
        assert!(r.messages.is_empty());
    })
    .await;
}

#[tokio::test]
async fn trailers_only_response() {
    bounded(async {
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| async move {
                    if req.uri().path() != "/test.Fail/NotFound" {
                        return echo(req, resp).await;
                    }
                    let mut body = req.into_body();
                    read_body(&mut body).await;
                    let mut head = grpc_head();
                    head.headers_mut()
                        .insert("grpc-status", HeaderValue::from_static("5"));
                    head.headers_mut()
                        .insert("grpc-message", HeaderValue::from_static("no such thing"));
                    head.headers_mut()
                        .insert("x-why", HeaderValue::from_static("because"));
                    let _ = resp.send_response(head, true);
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let r = c.unary(conn, "/test.Fail/NotFound", b"q").await;
        assert_eq!(r.code, Code::NotFound, "{r:?}");
        assert_eq!(r.message, "no such thing");
        assert!(
            r.headers.is_none(),
            "trailers-only must not produce Headers: {r:?}"
        );
        assert!(r.messages.is_empty());
        assert_eq!(
            r.trailers.get("x-why").map(HeaderValue::as_bytes),
            Some(&b"because"[..])
        );
        assert!(r.trailers.get("grpc-status").is_none());
        assert!(r.trailers.get("grpc-message").is_none());
        c.assert_healthy(conn, "a trailers-only response").await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// 5. Lying servers
// ---------------------------------------------------------------------------

/// Serves `/lie/<case>` by misbehaving as named, and echoes anything else.
/// Resets the server observes on lie streams are reported on `resets`.
fn lying_handler(resets: mpsc::UnboundedSender<(String, Option<Reason>)>) -> Handler {
    handler(
        move |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| {
            let resets = resets.clone();
            async move {
                let path = req.uri().path().to_owned();
                let Some(case) = path.strip_prefix("/lie/") else {
                    return echo(req, resp).await;
                };
                let mut body = req.into_body();
                read_body(&mut body).await;
                let with_status = |status: u16, ct: Option<&'static str>| {
                    let mut r = Response::new(());
                    *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
                    if let Some(ct) = ct {
                        r.headers_mut()
                            .insert("content-type", HeaderValue::from_static(ct));
                    }
                    r
                };
                let mut s = match case {
                    "http404" => {
                        let _ = resp.send_response(with_status(404, Some("text/plain")), true);
                        return;
                    }
                    "http503" => {
                        let _ = resp.send_response(with_status(503, None), true);
                        return;
                    }
                    "html" => {
                        let Ok(mut s) =
                            resp.send_response(with_status(200, Some("text/html")), false)
                        else {
                            return;
                        };
                        let _ = s.send_data(Bytes::from_static(b"<html>oops</html>"), false);
                        s
                    }
                    _ => match resp.send_response(grpc_head(), false) {
                        Ok(s) => s,
                        Err(_) => return,
                    },
                };
                match case {
                    "html" => {}
                    "status99" => {
                        let _ = s.send_data(encode_message(b"m"), false);
                        let _ = s.send_trailers(grpc_trailers("99", Some("bogus")));
                    }
                    "statusabc" => {
                        let _ = s.send_trailers(grpc_trailers("abc", None));
                    }
                    "no-trailers" => {
                        let _ = s.send_data(encode_message(b"hi"), true);
                    }
                    "truncated" => {
                        let mut d = BytesMut::new();
                        d.put_u8(0);
                        d.put_u32(100);
                        d.put_slice(&[7; 10]);
                        let _ = s.send_data(d.freeze(), false);
                        let _ = s.send_trailers(grpc_trailers("0", None));
                    }
                    "compressed" => {
                        let _ = s.send_data(
                            Bytes::from_static(&[1, 0, 0, 0, 3, b'a', b'b', b'c']),
                            false,
                        );
                        let _ = s.send_trailers(grpc_trailers("0", None));
                    }
                    "too-big" => {
                        let _ = s.send_data(encode_message(&[9; 2048]), false);
                    }
                    other => panic!("unknown lie {other}"),
                }
                if matches!(case, "html" | "too-big") {
                    // The client must give up on the stream: RST_STREAM(CANCEL).
                    let reason = timeout(EVENT_TIMEOUT, reset_of_stream(&mut s))
                        .await
                        .ok()
                        .flatten();
                    let _ = resets.send((case.to_owned(), reason));
                }
            }
        },
    )
}

async fn lie_case(case: &str, want: Code, want_in_message: &str) {
    let (tx, mut resets) = mpsc::unbounded_channel();
    let server = start_server(Builder::new(), lying_handler(tx)).await;
    let mut c = Client::new();
    let conn = c.connect_tcp(server.addr).await;
    let id = c.start(StartCall {
        conn,
        path: &format!("/lie/{case}"),
        message: Some(b"req"),
        half_close: true,
        max_receive_message_length: Some(1024),
        ..Default::default()
    });
    let r = c.finish(id).await;
    assert_eq!(r.code, want, "case {case}: {r:?}");
    assert!(
        r.message.contains(want_in_message),
        "case {case}: message {:?} should mention {want_in_message:?}",
        r.message
    );
    assert!(r.trailers.get("grpc-status").is_none());
    if matches!(case, "html" | "too-big") {
        let (seen_case, reason) = recv(&mut resets, "the client's RST_STREAM").await;
        assert_eq!(seen_case, case);
        assert_eq!(
            reason,
            Some(Reason::CANCEL),
            "case {case}: server saw {reason:?}"
        );
    }
    c.assert_healthy(conn, &format!("lie {case}")).await;
    assert_eq!(c.t.active_streams(), 0);
}

#[tokio::test]
async fn lie_http_404_is_unimplemented() {
    bounded(lie_case("http404", Code::Unimplemented, "404")).await;
}

#[tokio::test]
async fn lie_http_503_is_unavailable() {
    bounded(lie_case("http503", Code::Unavailable, "503")).await;
}

#[tokio::test]
async fn lie_html_content_type_is_unknown() {
    bounded(lie_case("html", Code::Unknown, "text/html")).await;
}

#[tokio::test]
async fn lie_grpc_status_99_is_unknown() {
    bounded(lie_case("status99", Code::Unknown, "99")).await;
}

#[tokio::test]
async fn lie_grpc_status_abc_is_unknown() {
    bounded(lie_case("statusabc", Code::Unknown, "abc")).await;
}

#[tokio::test]
async fn lie_missing_trailers_is_internal() {
    bounded(lie_case("no-trailers", Code::Internal, "trailers")).await;
}

#[tokio::test]
async fn lie_truncated_message_is_internal() {
    bounded(lie_case("truncated", Code::Internal, "10 of 100")).await;
}

#[tokio::test]
async fn lie_compressed_without_encoding_is_internal() {
    bounded(lie_case("compressed", Code::Internal, "compressed")).await;
}

#[tokio::test]
async fn lie_oversized_message_is_resource_exhausted_and_cancelled() {
    bounded(lie_case(
        "too-big",
        Code::ResourceExhausted,
        "2048 vs. 1024",
    ))
    .await;
}

#[tokio::test]
async fn all_lies_in_a_row_on_one_connection() {
    bounded(async {
        let (tx, _resets) = mpsc::unbounded_channel();
        let server = start_server(Builder::new(), lying_handler(tx)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let cases = [
            ("http404", Code::Unimplemented),
            ("http503", Code::Unavailable),
            ("html", Code::Unknown),
            ("status99", Code::Unknown),
            ("statusabc", Code::Unknown),
            ("no-trailers", Code::Internal),
            ("truncated", Code::Internal),
            ("compressed", Code::Internal),
            ("too-big", Code::ResourceExhausted),
        ];
        for _round in 0..3 {
            for (case, want) in cases {
                let id = c.start(StartCall {
                    conn,
                    path: &format!("/lie/{case}"),
                    message: Some(b"req"),
                    half_close: true,
                    max_receive_message_length: Some(1024),
                    ..Default::default()
                });
                let r = c.finish(id).await;
                assert_eq!(r.code, want, "case {case}: {r:?}");
            }
        }
        c.assert_healthy(conn, "27 lies").await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// 6. RST_STREAM from the server
// ---------------------------------------------------------------------------

fn reason_from_name(name: &str) -> Reason {
    match name {
        "REFUSED_STREAM" => Reason::REFUSED_STREAM,
        "CANCEL" => Reason::CANCEL,
        "ENHANCE_YOUR_CALM" => Reason::ENHANCE_YOUR_CALM,
        "INTERNAL_ERROR" => Reason::INTERNAL_ERROR,
        other => panic!("unknown reason {other}"),
    }
}

#[tokio::test]
async fn server_rst_stream_maps_to_codes() {
    bounded(async {
        // `/rst/<REASON>/before` resets instead of answering;
        // `/rst/<REASON>/after` resets after headers and one message.
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| async move {
                    let path = req.uri().path().to_owned();
                    let Some(rest) = path.strip_prefix("/rst/") else {
                        return echo(req, resp).await;
                    };
                    let mut body = req.into_body();
                    read_body(&mut body).await;
                    let (name, phase) = rest.split_once('/').expect("reason/phase");
                    let reason = reason_from_name(name);
                    if phase == "before" {
                        resp.send_reset(reason);
                        return;
                    }
                    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                        return;
                    };
                    let _ = s.send_data(encode_message(b"partial"), false);
                    // Let the message get out before the reset.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    s.send_reset(reason);
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let cases = [
            ("REFUSED_STREAM", Code::Unavailable),
            ("CANCEL", Code::Cancelled),
            ("ENHANCE_YOUR_CALM", Code::ResourceExhausted),
            ("INTERNAL_ERROR", Code::Internal),
        ];
        for (name, want) in cases {
            for phase in ["before", "after"] {
                let r = c.unary(conn, &format!("/rst/{name}/{phase}"), b"x").await;
                assert_eq!(r.code, want, "{name} {phase}: {r:?}");
                if phase == "after" {
                    assert!(r.headers.is_some(), "{name} {phase}: {r:?}");
                    assert_eq!(
                        r.messages,
                        vec![Bytes::from_static(b"partial")],
                        "{name} {phase}"
                    );
                } else {
                    assert!(
                        r.headers.is_none() && r.messages.is_empty(),
                        "{name} {phase}: {r:?}"
                    );
                }
                c.assert_healthy(conn, &format!("RST_STREAM({name}) {phase} headers"))
                    .await;
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// 7. Deadline; 8. Cancel
// ---------------------------------------------------------------------------

/// A server that never answers `/hang`: it reports the request's grpc-timeout
/// when it arrives, then the RST_STREAM reason it observes.
fn hanging_handler(
    arrived: mpsc::UnboundedSender<Option<String>>,
    resets: mpsc::UnboundedSender<Option<Reason>>,
) -> Handler {
    handler(
        move |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| {
            let arrived = arrived.clone();
            let resets = resets.clone();
            async move {
                if req.uri().path() != "/hang" {
                    return echo(req, resp).await;
                }
                let t = req
                    .headers()
                    .get("grpc-timeout")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let _ = arrived.send(t);
                let reason = timeout(EVENT_TIMEOUT, reset_of_response(&mut resp))
                    .await
                    .ok()
                    .flatten();
                let _ = resets.send(reason);
                // Keep the body alive until the reset is observed.
                drop(req);
            }
        },
    )
}

#[tokio::test]
async fn deadline_exceeded_resets_the_stream() {
    bounded(async {
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        let (reset_tx, mut resets) = mpsc::unbounded_channel();
        let server = start_server(Builder::new(), hanging_handler(arrived_tx, reset_tx)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let started = Instant::now();
        let id = c.start(StartCall {
            conn,
            path: "/hang",
            timeout: Some(Duration::from_millis(100)),
            message: Some(b"wait"),
            half_close: true,
            ..Default::default()
        });
        let r = c.finish(id).await;
        let elapsed = started.elapsed();
        assert_eq!(r.code, Code::DeadlineExceeded, "{r:?}");
        assert!(
            elapsed >= Duration::from_millis(95),
            "ended after {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "ended after {elapsed:?}");
        let t = recv(&mut arrived, "the request")
            .await
            .expect("grpc-timeout header");
        let t = decode_timeout(&t).expect("valid grpc-timeout");
        assert!(
            t <= Duration::from_millis(101) && t > Duration::from_millis(50),
            "{t:?}"
        );
        assert_eq!(recv(&mut resets, "the reset").await, Some(Reason::CANCEL));
        assert_eq!(c.t.active_streams(), 0);
        c.assert_healthy(conn, "a deadline").await;
    })
    .await;
}

#[tokio::test]
async fn cancel_resets_the_stream_and_reports_nothing() {
    bounded(async {
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        let (reset_tx, mut resets) = mpsc::unbounded_channel();
        let server = start_server(Builder::new(), hanging_handler(arrived_tx, reset_tx)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start_unary(conn, "/hang", b"wait");
        assert_eq!(recv(&mut arrived, "the request").await, None);
        c.t.cancel(id);
        assert_eq!(recv(&mut resets, "the reset").await, Some(Reason::CANCEL));
        let late = c.events_during(Duration::from_millis(300)).await;
        assert!(
            late.iter().all(|e| stream_of(e) != Some(id)),
            "events for a cancelled stream: {late:?}"
        );
        assert_eq!(c.t.active_streams(), 0);
        // Commands to a cancelled stream are ignored.
        c.t.send_message(id, b"late", false);
        c.t.half_close(id);
        c.t.cancel(id);
        c.assert_healthy(conn, "a cancel").await;
    })
    .await;
}

#[tokio::test]
async fn cancel_reaches_the_server_while_a_write_waits_for_flow_control() {
    bounded(async {
        let (reset_tx, mut resets) = mpsc::unbounded_channel();
        // The server answers with headers but never reads the request body,
        // so the client's stream window fills up.
        let server = start_server(
            Builder::new(),
            handler(
                move |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| {
                    let reset_tx = reset_tx.clone();
                    async move {
                        if req.uri().path() != "/sink" {
                            return echo(req, resp).await;
                        }
                        let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                            return;
                        };
                        let reason = timeout(Duration::from_secs(10), reset_of_stream(&mut s))
                            .await
                            .ok()
                            .flatten();
                        let _ = reset_tx.send(reason);
                        drop(req);
                    }
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start(StartCall {
            conn,
            path: "/sink",
            ..Default::default()
        });
        let chunk = vec![0x5a; 16 * 1024];
        let mut blocked = false;
        let mut acked_count = 0;
        for _ in 0..64 {
            c.t.send_message(id, &chunk, false);
            let acked = timeout(
                Duration::from_millis(300),
                c.wait_for(
                    "a write ack",
                    |e| matches!(e, Event::WriteAck { stream } if *stream == id),
                ),
            )
            .await;
            if acked.is_err() {
                blocked = true;
                break;
            }
            acked_count += 1;
        }
        assert!(blocked, "writes never waited for flow control");
        // The stream is alive and took writes until its window ran out.
        assert!(acked_count >= 2, "only {acked_count} writes acked");
        c.t.cancel(id);
        assert_eq!(
            recv(&mut resets, "the reset of a flow-control-blocked stream").await,
            Some(Reason::CANCEL)
        );
        let late = c.events_during(Duration::from_millis(200)).await;
        assert!(
            late.iter()
                .all(|e| !matches!(e, Event::Status { stream, .. } if *stream == id)),
            "status for a cancelled stream: {late:?}"
        );
        assert_eq!(c.t.active_streams(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// 9. Client streaming and bidi
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_streaming_acks_writes_and_half_closes() {
    bounded(async {
        let (tx, mut seen) = mpsc::unbounded_channel::<(Vec<Bytes>, bool)>();
        let server = start_server(
            Builder::new(),
            handler(move |req: Request<RecvStream>, resp: SendResponse<Bytes>| {
                let tx = tx.clone();
                async move {
                    let mut body = req.into_body();
                    let chunks = read_body(&mut body).await;
                    // `data()` returned None: END_STREAM arrived.
                    let msgs = unframe(&chunks);
                    let _ = tx.send((msgs.clone(), body.is_end_stream()));
                    let joined = msgs
                        .iter()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .collect::<Vec<_>>()
                        .join(",");
                    reply_ok(resp, &[Bytes::from(joined)]);
                }
            }),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start(StartCall {
            conn,
            path: "/test.Sum/In",
            ..Default::default()
        });
        // Written right after start, before the stream can have opened.
        for i in 0..5 {
            c.t.send_message(id, format!("m{i}").as_bytes(), false);
        }
        for n in 0..5 {
            c.wait_for(
                &format!("write ack {n}"),
                |e| matches!(e, Event::WriteAck { stream } if *stream == id),
            )
            .await;
        }
        c.t.half_close(id);
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(r.acks, 0, "more acks than writes");
        assert_eq!(r.messages, vec![Bytes::from_static(b"m0,m1,m2,m3,m4")]);
        let (msgs, ended) = recv(&mut seen, "the request stream").await;
        assert_eq!(msgs.len(), 5);
        assert!(ended);
    })
    .await;
}

/// Echoes each message as soon as it is complete; OK with `x-count` at END_STREAM.
async fn streaming_echo(req: Request<RecvStream>, mut resp: SendResponse<Bytes>) {
    let mut body = req.into_body();
    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
        return;
    };
    let mut d = Decoder::new(usize::MAX);
    let mut count = 0usize;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        let mut out = Vec::new();
        d.feed(chunk, |m, _| out.push(m)).expect("well-framed");
        for m in out {
            count += 1;
            let _ = s.send_data(encode_message(&m), false);
        }
    }
    let mut t = grpc_trailers("0", None);
    t.insert("x-count", HeaderValue::from(count));
    let _ = s.send_trailers(t);
}

#[tokio::test]
async fn bidi_ping_pong() {
    bounded(async {
        let server = start_server(Builder::new(), handler(streaming_echo)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        // The first message travels with the headers.
        let id = c.start(StartCall {
            conn,
            path: "/test.Echo/Bidi",
            message: Some(b"hello"),
            ..Default::default()
        });
        let first = c
            .wait_for("the echo of the first message", |e| {
                stream_of(e) == Some(id)
            })
            .await;
        assert!(matches!(first, Event::Headers { .. }), "{first:?}");
        let echoed = c.wait_for("echo", |e| stream_of(e) == Some(id)).await;
        assert!(
            matches!(&echoed, Event::Message { data, .. } if &data[..] == b"hello"),
            "{echoed:?}"
        );
        for i in 0..20 {
            let msg = format!("ping {i}").into_bytes();
            let last = i == 19;
            c.t.send_message(id, &msg, last);
            c.wait_for(
                "write ack",
                |e| matches!(e, Event::WriteAck { stream } if *stream == id),
            )
            .await;
            let echoed = c
                .wait_for(
                    "echo",
                    |e| matches!(e, Event::Message { stream, .. } if *stream == id),
                )
                .await;
            match echoed {
                Event::Message { data, .. } => assert_eq!(&data[..], &msg[..]),
                other => panic!("expected the echo of {i}, got {other:?}"),
            }
        }
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert!(r.messages.is_empty() && r.acks == 0, "{r:?}");
        assert_eq!(
            r.trailers.get("x-count").map(HeaderValue::as_bytes),
            Some(&b"21"[..])
        );
        // Writes after the end are ignored.
        c.t.send_message(id, b"late", false);
        assert_eq!(c.t.active_streams(), 0);
    })
    .await;
}

#[tokio::test]
async fn server_ends_a_client_stream_early() {
    bounded(async {
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| async move {
                    if req.uri().path() != "/test.Sum/Reject" {
                        return echo(req, resp).await;
                    }
                    let mut body = req.into_body();
                    // One message is enough to refuse the rest.
                    let _ = body.data().await;
                    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                        return;
                    };
                    let _ = s.send_trailers(grpc_trailers("3", Some("first message was bad")));
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start(StartCall {
            conn,
            path: "/test.Sum/Reject",
            message: Some(b"bad"),
            ..Default::default()
        });
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::InvalidArgument, "{r:?}");
        assert_eq!(r.message, "first message was bad");
        // The embedder may still be writing; that is ignored.
        c.t.send_message(id, b"more", false);
        c.t.half_close(id);
        let late = c.events_during(Duration::from_millis(100)).await;
        assert!(late.iter().all(|e| stream_of(e) != Some(id)), "{late:?}");
        assert_eq!(c.t.active_streams(), 0);
        c.assert_healthy(conn, "a client stream ended by the server")
            .await;
    })
    .await;
}

#[tokio::test]
async fn writes_wait_while_the_stream_is_queued_behind_max_concurrent_streams() {
    bounded(async {
        let release = Arc::new(Notify::new());
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<()>();
        let mut b = Builder::new();
        b.max_concurrent_streams(1);
        let server = start_server(b, {
            let release = release.clone();
            handler(move |req: Request<RecvStream>, resp: SendResponse<Bytes>| {
                let release = release.clone();
                let arrived_tx = arrived_tx.clone();
                async move {
                    if req.uri().path() == "/slow" {
                        let _ = arrived_tx.send(());
                        release.notified().await;
                    }
                    echo(req, resp).await
                }
            })
        })
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let slow = c.start_unary(conn, "/slow", b"first");
        recv(&mut arrived, "the slow call").await;
        // This stream cannot open yet; its writes and half-close must wait.
        let id = c.start(StartCall {
            conn,
            path: "/test.Echo/Stream",
            ..Default::default()
        });
        c.t.send_message(id, b"a", false);
        c.t.send_message(id, b"b", false);
        c.t.half_close(id);
        tokio::time::sleep(Duration::from_millis(100)).await;
        release.notify_one();
        let r = c.finish(slow).await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(
            r.messages,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
        assert_eq!(r.acks, 2);
    })
    .await;
}

#[tokio::test]
async fn cancel_and_deadline_while_queued_behind_max_concurrent_streams() {
    bounded(async {
        let release = Arc::new(Notify::new());
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<String>();
        let (reset_tx, mut resets) = mpsc::unbounded_channel::<(String, Option<Reason>)>();
        let mut b = Builder::new();
        b.max_concurrent_streams(1);
        let server = start_server(b, {
            let release = release.clone();
            handler(
                move |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| {
                    let release = release.clone();
                    let arrived_tx = arrived_tx.clone();
                    let reset_tx = reset_tx.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let _ = arrived_tx.send(path.clone());
                        match path.as_str() {
                            "/slow" => release.notified().await,
                            "/test.Echo/Unary" => {}
                            _ => {
                                // A stream h2 had to open only to reset it (its
                                // id was already allocated): it must be reset.
                                let reason = timeout(EVENT_TIMEOUT, reset_of_response(&mut resp))
                                    .await
                                    .ok()
                                    .flatten();
                                let _ = reset_tx.send((path, reason));
                                return;
                            }
                        }
                        echo(req, resp).await
                    }
                },
            )
        })
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let slow = c.start_unary(conn, "/slow", b"first");
        assert_eq!(recv(&mut arrived, "the slow call").await, "/slow");
        let queued = c.start_unary(conn, "/never", b"x");
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.t.cancel(queued);
        let deadline_call = c.start(StartCall {
            conn,
            path: "/late",
            timeout: Some(Duration::from_millis(100)),
            message: Some(b"y"),
            half_close: true,
            ..Default::default()
        });
        let r = c.finish(deadline_call).await;
        assert_eq!(r.code, Code::DeadlineExceeded, "{r:?}");
        release.notify_one();
        assert_eq!(c.finish(slow).await.code, Code::Ok);
        c.assert_healthy(conn, "cancelling a queued call").await;
        let late = c.events_during(Duration::from_millis(100)).await;
        assert!(
            late.iter().all(|e| stream_of(e) != Some(queued)),
            "{late:?}"
        );
        assert_eq!(c.t.active_streams(), 0);
        while let Ok((path, reason)) = resets.try_recv() {
            assert_eq!(reason, Some(Reason::CANCEL), "{path}");
        }
    })
    .await;
}

/// The embedder writes right after `start_call` returns (that is what the JS
/// side does with writes buffered while the connection was coming up); the
/// call task may not have opened its stream yet.
#[tokio::test]
async fn writes_right_after_start_are_kept_in_order() {
    bounded(async {
        // h2 >= 0.4.20 servers close the connection (GOAWAY ENHANCE_YOUR_CALM
        // "too_many_data_frames") when too many small DATA frames sit unread;
        // 200 streams opening at once, each with two 8-byte messages, exceed
        // the default budget before this test server's handlers run.
        let mut b = Builder::new();
        b.data_frame_budget(1 << 20);
        let server = start_server(b, handler(echo)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let ids: Vec<u32> = (0..200)
            .map(|i| {
                let id = c.start(StartCall {
                    conn,
                    path: "/test.Echo/Stream",
                    ..Default::default()
                });
                c.t.send_message(id, format!("{i}-a").as_bytes(), false);
                c.t.send_message(id, format!("{i}-b").as_bytes(), false);
                c.t.half_close(id);
                id
            })
            .collect();
        let results = c.finish_all(&ids, Duration::from_secs(20)).await;
        for (i, id) in ids.iter().enumerate() {
            let r = &results[id];
            assert_eq!(r.code, Code::Ok, "call {i}: {r:?}");
            assert_eq!(
                r.messages,
                vec![Bytes::from(format!("{i}-a")), Bytes::from(format!("{i}-b"))],
                "call {i}"
            );
            assert_eq!(r.acks, 2, "call {i}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// 10. GOAWAY
// ---------------------------------------------------------------------------

/// `/slow` waits for `release` before echoing; everything else echoes.
fn slow_handler(arrived: mpsc::UnboundedSender<()>, release: Arc<Notify>) -> Handler {
    handler(move |req: Request<RecvStream>, resp: SendResponse<Bytes>| {
        let arrived = arrived.clone();
        let release = release.clone();
        async move {
            if req.uri().path() == "/slow" {
                let _ = arrived.send(());
                release.notified().await;
            }
            echo(req, resp).await
        }
    })
}

#[tokio::test]
async fn graceful_goaway_lets_in_flight_calls_finish() {
    bounded(async {
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let server = start_server(Builder::new(), slow_handler(arrived_tx, release.clone())).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let slow = c.start_unary(conn, "/slow", b"in flight");
        recv(&mut arrived, "the slow call").await;
        server.control(Ctl::Graceful);
        let mut goaways = Vec::new();
        match c.conn_event(conn).await {
            ConnEvent::GoAway {
                code,
                last_stream_id,
                debug,
            } => {
                assert_eq!(code, 0);
                assert!(last_stream_id >= 1);
                assert!(debug.is_empty());
                goaways.push(last_stream_id);
            }
            other => panic!("expected GoAway, got {other:?}"),
        }
        // New calls are refused once the server said it is going away.
        let r = c.unary(conn, "/test.Echo/Unary", b"too late").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
        release.notify_one();
        let r = c.finish(slow).await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(r.messages, vec![Bytes::from_static(b"in flight")]);
        let reason = loop {
            match c.conn_event(conn).await {
                ConnEvent::GoAway {
                    code,
                    last_stream_id,
                    ..
                } => {
                    assert_eq!(code, 0);
                    goaways.push(last_stream_id);
                }
                ConnEvent::Closed { reason } => break reason,
                ConnEvent::Ready => panic!("second Ready"),
                ConnEvent::PeerCertificate { .. } => panic!("peer certificate without TLS"),
            }
        };
        // h2's graceful shutdown: GOAWAY(2^31-1), PING, then GOAWAY(last processed).
        assert_eq!(goaways.last(), Some(&1), "GOAWAYs {goaways:?}");
        assert!(!reason.is_empty());
        let r = c.unary(conn, "/test.Echo/Unary", b"after close").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
        assert_eq!(c.t.active_streams(), 0);
    })
    .await;
}

#[tokio::test]
async fn abrupt_goaway_ends_in_flight_calls_unavailable() {
    bounded(async {
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let server = start_server(Builder::new(), slow_handler(arrived_tx, release)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let slow = c.start_unary(conn, "/slow", b"in flight");
        recv(&mut arrived, "the slow call").await;
        server.control(Ctl::Abrupt(Reason::ENHANCE_YOUR_CALM));
        match c.conn_event(conn).await {
            ConnEvent::GoAway {
                code,
                last_stream_id,
                debug,
            } => {
                assert_eq!(code, u32::from(Reason::ENHANCE_YOUR_CALM));
                assert_eq!(last_stream_id, 1);
                assert!(debug.is_empty());
            }
            other => panic!("expected GoAway, got {other:?}"),
        }
        let r = c.finish(slow).await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
        match c.conn_event(conn).await {
            ConnEvent::Closed { .. } => {}
            other => panic!("expected Closed, got {other:?}"),
        }
        let r = c.unary(conn, "/test.Echo/Unary", b"after close").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
    })
    .await;
}

/// A hand-written peer (h2's server cannot attach GOAWAY debug data): sends
/// SETTINGS, then GOAWAY(ENHANCE_YOUR_CALM, last 0, "too_many_pings").
#[tokio::test]
async fn goaway_debug_data_is_reported() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut preface = [0u8; 24];
            if sock.read_exact(&mut preface).await.is_err() {
                return;
            }
            assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            let mut out = Vec::new();
            out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS, empty
            let debug = b"too_many_pings";
            let len = 8 + debug.len();
            out.extend_from_slice(&[0, 0, len as u8, 7, 0, 0, 0, 0, 0]); // GOAWAY
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&11u32.to_be_bytes());
            out.extend_from_slice(debug);
            if sock.write_all(&out).await.is_err() {
                return;
            }
            // Read until the client hangs up, so nothing unread causes a TCP reset.
            let mut buf = [0u8; 4096];
            let _ = timeout(EVENT_TIMEOUT, async {
                while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
        });
        let mut c = Client::new();
        let conn = c.connect_tcp(addr).await;
        match c.conn_event(conn).await {
            ConnEvent::GoAway {
                code,
                last_stream_id,
                debug,
            } => {
                assert_eq!(code, 11);
                assert_eq!(last_stream_id, 0);
                assert_eq!(&debug[..], b"too_many_pings");
            }
            other => panic!("expected GoAway, got {other:?}"),
        }
        match c.conn_event(conn).await {
            ConnEvent::Closed { reason } => assert!(!reason.is_empty()),
            other => panic!("expected Closed, got {other:?}"),
        }
        let r = c.unary(conn, "/x/y", b"").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 11. Server dies; nothing listening; close_connection
// ---------------------------------------------------------------------------

#[tokio::test]
async fn server_death_mid_stream_is_unavailable() {
    bounded(async {
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, mut resp: SendResponse<Bytes>| async move {
                    let mut body = req.into_body();
                    read_body(&mut body).await;
                    let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                        return;
                    };
                    let _ = s.send_data(encode_message(b"first of many"), false);
                    std::future::pending::<()>().await;
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start_unary(conn, "/test.Stream/Forever", b"go");
        let first = c
            .wait_for(
                "the first message",
                |e| matches!(e, Event::Message { stream, .. } if *stream == id),
            )
            .await;
        assert!(matches!(first, Event::Message { .. }));
        server.control(Ctl::Kill);
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
        match c.conn_event(conn).await {
            ConnEvent::Closed { reason } => assert!(!reason.is_empty()),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert_eq!(c.t.active_streams(), 0);
        let r = c.unary(conn, "/x/y", b"").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
    })
    .await;
}

#[tokio::test]
async fn connect_to_nothing_names_the_address() {
    bounded(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let mut c = Client::new();
        let conn = c.t.connect(tcp_options(addr));
        match c.conn_event(conn).await {
            ConnEvent::Closed { reason } => {
                assert!(
                    reason.contains(&format!("127.0.0.1:{}", addr.port())),
                    "{reason}"
                )
            }
            other => panic!("expected Closed, got {other:?}"),
        }
        let r = c.unary(conn, "/x/y", b"").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
    })
    .await;
}

#[tokio::test]
async fn close_connection_ends_calls_unavailable() {
    bounded(async {
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        let server = start_server(
            Builder::new(),
            slow_handler(arrived_tx, Arc::new(Notify::new())),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start_unary(conn, "/slow", b"x");
        recv(&mut arrived, "the slow call").await;
        c.t.close_connection(conn);
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
        match c.conn_event(conn).await {
            ConnEvent::Closed { .. } => {}
            other => panic!("expected Closed, got {other:?}"),
        }
        assert_eq!(c.t.active_streams(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// 12. Unix-domain socket
// ---------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn unix_domain_socket_round_trip() {
    bounded(async {
        let path = std::env::temp_dir().join(format!(
            "h2core-test-{}-{}.sock",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let listener = tokio::net::UnixListener::bind(&path).expect("bind unix socket");
        let (_ctl, ctl_rx) = watch::channel(Ctl::Run);
        tokio::spawn(async move {
            if let Ok((sock, _)) = listener.accept().await {
                serve_conn(sock, Builder::new(), handler(echo), ctl_rx).await;
            }
        });
        let mut c = Client::new();
        let conn = c
            .connect(ConnectOptions::new(
                Address::Unix {
                    path: path.to_string_lossy().into_owned(),
                },
                "localhost",
            ))
            .await;
        let r = c
            .unary(conn, "/test.Echo/Unary", b"over a unix socket")
            .await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(r.messages, vec![Bytes::from_static(b"over a unix socket")]);
        let _ = std::fs::remove_file(&path);
    })
    .await;
}

// ---------------------------------------------------------------------------
// 13. BDP / large payloads
// ---------------------------------------------------------------------------

fn big_message(i: usize) -> Bytes {
    Bytes::from(
        (0..(1usize << 20))
            .map(|j| (j.wrapping_mul(31) ^ i.wrapping_mul(97)) as u8)
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn eight_mib_server_stream_completes() {
    bounded(async {
        let server = start_server(
            Builder::new(),
            handler(
                |req: Request<RecvStream>, resp: SendResponse<Bytes>| async move {
                    let mut body = req.into_body();
                    read_body(&mut body).await;
                    let msgs: Vec<Bytes> = (0..8).map(big_message).collect();
                    reply_ok(resp, &msgs);
                },
            ),
        )
        .await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let started = Instant::now();
        let r = c.unary(conn, "/test.Stream/Big", b"").await;
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(r.messages.len(), 8);
        for (i, m) in r.messages.iter().enumerate() {
            assert!(*m == big_message(i), "message {i} differs");
        }
        eprintln!("8 MiB in {:?}", started.elapsed());
        // And a client-streamed 8 MiB the other way.
        let id = c.start(StartCall {
            conn,
            path: "/test.Echo/Up",
            ..Default::default()
        });
        for i in 0..8 {
            c.t.send_message(id, &big_message(i), i == 7);
            c.wait_for(
                "write ack",
                |e| matches!(e, Event::WriteAck { stream } if *stream == id),
            )
            .await;
        }
        let r = c.finish(id).await;
        assert_eq!(r.code, Code::Ok, "{}", r.message);
        assert_eq!(r.messages.len(), 8);
        assert!(r
            .messages
            .iter()
            .enumerate()
            .all(|(i, m)| *m == big_message(i)));
    })
    .await;
}

// ---------------------------------------------------------------------------
// 14. Many concurrent calls on one connection
// ---------------------------------------------------------------------------

async fn thousand_calls(max_concurrent: Option<u32>) {
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut b = Builder::new();
    if let Some(n) = max_concurrent {
        b.max_concurrent_streams(n);
    }
    let server = start_server(b, {
        let active = active.clone();
        let peak = peak.clone();
        handler(move |req: Request<RecvStream>, resp: SendResponse<Bytes>| {
            let active = active.clone();
            let peak = peak.clone();
            async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let mut body = req.into_body();
                let msgs = unframe(&read_body(&mut body).await);
                tokio::time::sleep(Duration::from_millis(2)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                reply_ok(resp, &msgs);
            }
        })
    })
    .await;
    let mut c = Client::new();
    let conn = c.connect_tcp(server.addr).await;
    let payloads: Vec<String> = (0..1000).map(|i| format!("request number {i}")).collect();
    let ids: Vec<u32> = payloads
        .iter()
        .map(|p| c.start_unary(conn, "/test.Echo/Unary", p.as_bytes()))
        .collect();
    let results = c.finish_all(&ids, Duration::from_secs(20)).await;
    for (id, p) in ids.iter().zip(&payloads) {
        let r = &results[id];
        assert_eq!(r.code, Code::Ok, "stream {id}: {r:?}");
        assert_eq!(
            r.messages,
            vec![Bytes::copy_from_slice(p.as_bytes())],
            "stream {id}"
        );
    }
    let peak = peak.load(Ordering::SeqCst);
    if let Some(n) = max_concurrent {
        assert!(
            peak <= n as usize,
            "server saw {peak} concurrent streams, limit {n}"
        );
    }
    eprintln!("peak concurrency {peak}");
    assert_eq!(c.t.active_streams(), 0);
    c.assert_healthy(conn, "1000 calls").await;
}

#[tokio::test]
async fn thousand_concurrent_unary_calls() {
    bounded(thousand_calls(None)).await;
}

#[tokio::test]
async fn thousand_calls_queue_behind_max_concurrent_streams_100() {
    bounded(thousand_calls(Some(100))).await;
}

/// The binding runs the transport in deferred mode: calls and stream writes
/// wait for `flush`, then go out together. Nothing may reach the server
/// before the flush, and everything must arrive, in order, after it.
#[tokio::test]
async fn deferred_mode_holds_work_until_flush() {
    bounded(async {
        let server = start_server(Builder::new(), handler(streaming_echo)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        c.t.set_deferred(true);
        let unary: Vec<u32> = (0..20)
            .map(|i| c.start_unary(conn, "/test.Echo/Unary", format!("u{i}").as_bytes()))
            .collect();
        let bidi = c.start(StartCall {
            conn,
            path: "/test.Echo/Bidi",
            ..Default::default()
        });
        for i in 0..3 {
            c.t.send_message(bidi, format!("b{i}").as_bytes(), false);
        }
        c.t.half_close(bidi);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let early = c.t.drain(Vec::new());
        assert!(
            early.iter().all(|e| stream_of(e).is_none()),
            "stream events before flush: {early:?}"
        );
        c.t.flush();
        let mut ids = unary.clone();
        ids.push(bidi);
        let results = c.finish_all(&ids, Duration::from_secs(10)).await;
        for (i, id) in unary.iter().enumerate() {
            let r = &results[id];
            assert_eq!(r.code, Code::Ok, "{r:?}");
            assert_eq!(r.messages, vec![Bytes::from(format!("u{i}"))]);
        }
        let r = &results[&bidi];
        assert_eq!(r.code, Code::Ok, "{r:?}");
        assert_eq!(
            r.messages,
            vec![Bytes::from("b0"), Bytes::from("b1"), Bytes::from("b2")]
        );
        assert_eq!(r.acks, 3);
    })
    .await;
}

/// Writes sent without asking for an ack produce no `WriteAck` events, yet
/// arrive in order; the one that asks is acknowledged.
#[tokio::test]
async fn writes_without_ack_are_silent_but_delivered() {
    bounded(async {
        let server = start_server(Builder::new(), handler(streaming_echo)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        let id = c.start(StartCall {
            conn,
            path: "/test.Echo/Bidi",
            ..Default::default()
        });
        for i in 0..9 {
            c.t.send_message_with_ack(id, format!("w{i}").as_bytes(), false, false);
        }
        c.t.send_message_with_ack(id, b"w9", false, true);
        c.t.half_close(id);
        let results = c.finish_all(&[id], Duration::from_secs(10)).await;
        let r = &results[&id];
        assert_eq!(r.code, Code::Ok, "{r:?}");
        let want: Vec<Bytes> = (0..10).map(|i| Bytes::from(format!("w{i}"))).collect();
        assert_eq!(r.messages, want);
        assert_eq!(r.acks, 1);
    })
    .await;
}

/// A hand-written peer that answers the first HEADERS with GOAWAY(last 0,
/// NO_ERROR): the stream is above the last-stream-id, never processed, and
/// the status must say "Stream refused" so the JS side retries it
/// transparently (gRFC A6).
#[tokio::test]
async fn stream_above_goaway_last_stream_id_is_refused() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut preface = [0u8; 24];
            if sock.read_exact(&mut preface).await.is_err() {
                return;
            }
            if sock.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.is_err() {
                return;
            }
            // Skip frames until the first HEADERS.
            loop {
                let mut head = [0u8; 9];
                if sock.read_exact(&mut head).await.is_err() {
                    return;
                }
                let len =
                    usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
                let mut payload = vec![0u8; len];
                if sock.read_exact(&mut payload).await.is_err() {
                    return;
                }
                if head[3] == 1 {
                    break;
                }
            }
            let mut goaway = vec![0, 0, 8, 7, 0, 0, 0, 0, 0];
            goaway.extend_from_slice(&0u32.to_be_bytes());
            goaway.extend_from_slice(&0u32.to_be_bytes());
            if sock.write_all(&goaway).await.is_err() {
                return;
            }
            let mut buf = [0u8; 4096];
            let _ = timeout(EVENT_TIMEOUT, async {
                while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
        });
        let mut c = Client::new();
        let conn = c.connect_tcp(addr).await;
        let r = c.unary(conn, "/x/y", b"").await;
        assert_eq!(r.code, Code::Unavailable, "{r:?}");
        assert!(r.message.starts_with("Stream refused"), "{r:?}");
    })
    .await;
}

/// A call cancelled in the same turn it was started (deferred mode: before
/// the flush spawns its task) must never reach the server, even though its
/// connection has a stream slot ready at the same moment.
#[tokio::test]
async fn a_call_cancelled_before_flush_never_reaches_the_server() {
    bounded(async {
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
        let (reset_tx, _resets) = mpsc::unbounded_channel();
        let server = start_server(Builder::new(), hanging_handler(arrived_tx, reset_tx)).await;
        let mut c = Client::new();
        let conn = c.connect_tcp(server.addr).await;
        c.t.set_deferred(true);
        for _ in 0..50 {
            let id = c.start_unary(conn, "/hang", b"never");
            c.t.cancel(id);
        }
        c.t.flush();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            arrived.try_recv().is_err(),
            "a cancelled call reached the server"
        );
        assert_eq!(c.t.active_streams(), 0);
        c.t.set_deferred(false);
        c.assert_healthy(conn, "cancels before flush").await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Receive backpressure: with `set_acks_reads`, a call's window reopens only as
// the embedder reports messages read.
// ---------------------------------------------------------------------------

/// Streams `count` framed messages of `size` bytes, each sent only once the
/// client's window has room for it, and reports how many went out so far.
fn flow_controlled_source(count: usize, size: usize, sent: watch::Sender<usize>) -> Handler {
    let sent = Arc::new(sent);
    handler(
        move |_req: Request<RecvStream>, mut resp: SendResponse<Bytes>| {
            let sent = sent.clone();
            async move {
                let Ok(mut s) = resp.send_response(grpc_head(), false) else {
                    return;
                };
                let message = encode_message(&vec![0x42; size]);
                for i in 0..count {
                    s.reserve_capacity(message.len());
                    while s.capacity() < message.len() {
                        match poll_fn(|cx| s.poll_capacity(cx)).await {
                            Some(Ok(_)) => {}
                            _ => return,
                        }
                    }
                    if s.send_data(message.clone(), false).is_err() {
                        return;
                    }
                    sent.send_replace(i + 1);
                }
                let _ = s.send_trailers(grpc_trailers("0", None));
            }
        },
    )
}

/// A server streaming `count` messages of `size` bytes as its window allows,
/// and a client that acknowledges reads (as the binding does) calling it,
/// with the default 64 KiB stream window, not grown by BDP, so that bounds
/// are exact. Returns the server (keep it alive), the client, the call's
/// stream and the number of messages the server has sent so far.
async fn read_acking_source(
    count: usize,
    size: usize,
) -> (TestServer, Client, u32, watch::Receiver<usize>) {
    let (sent_tx, sent) = watch::channel(0usize);
    let server = start_server(Builder::new(), flow_controlled_source(count, size, sent_tx)).await;
    let mut c = Client::new();
    c.t.set_acks_reads(true);
    let mut opts = tcp_options(server.addr);
    opts.bdp_probe = false;
    let conn = c.connect(opts).await;
    let id = c.start_unary(conn, "/source", b"");
    (server, c, id, sent)
}

/// Collects `id`'s messages until the server has stopped sending (nothing
/// sent for 300 ms); returns how many arrived.
async fn messages_until_the_server_stops(
    c: &mut Client,
    id: u32,
    sent: &watch::Receiver<usize>,
) -> usize {
    let mut delivered = 0;
    loop {
        let before = *sent.borrow();
        let events = c.events_during(Duration::from_millis(300)).await;
        delivered += events
            .iter()
            .filter(|e| matches!(e, Event::Message { stream, .. } if *stream == id))
            .count();
        if *sent.borrow() == before {
            return delivered;
        }
    }
}

/// Reads each of `id`'s messages as it comes until an OK status; returns
/// how many there were.
async fn read_to_the_end(c: &mut Client, id: u32) -> usize {
    let mut received = 0;
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let e = timeout_at(
            deadline,
            c.wait_for("a message or the status", |e| stream_of(e) == Some(id)),
        )
        .await
        .expect("the stream went on after the reads");
        match e {
            Event::Message { .. } => {
                received += 1;
                c.t.read(id, 1);
            }
            Event::Status { code, .. } => {
                assert_eq!(code, Code::Ok);
                return received;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn unread_messages_hold_the_server_back_until_read() {
    bounded(async {
        // Well past one window plus the unread allowance.
        const COUNT: usize = 256;
        const SIZE: usize = 16 * 1024;
        let (_server, mut c, id, sent) = read_acking_source(COUNT, SIZE).await;
        let delivered = messages_until_the_server_stops(&mut c, id, &sent).await;
        // One window of unread messages beyond the unread allowance, plus a
        // message's first frame released while nothing was unread yet (see
        // recv_window.rs).
        let bound = (65_535 + UNREAD_ALLOWANCE + 16_384) / (SIZE + 5);
        let sent_while_unread = *sent.borrow();
        assert!(
            (1..=bound).contains(&sent_while_unread),
            "the server sent {sent_while_unread} messages into a window of unread ones (bound {bound})"
        );
        assert_eq!(delivered, sent_while_unread);
        // Reading them reopens the window; reading each as it comes lets the
        // whole stream through.
        c.t.read(id, delivered as u32);
        let received = delivered + read_to_the_end(&mut c, id).await;
        assert_eq!(received, COUNT);
        assert_eq!(*sent.borrow(), COUNT);
    })
    .await;
}

#[tokio::test]
async fn a_paused_reader_holds_the_server_to_its_window_without_the_allowance() {
    bounded(async {
        const COUNT: usize = 256;
        const SIZE: usize = 16 * 1024;
        let (_server, mut c, id, sent) = read_acking_source(COUNT, SIZE).await;
        // Paused before anything arrives: not even the unread allowance
        // goes back, so the server stops within the 64 KiB window.
        c.t.pause_reads(id);
        let mut delivered = messages_until_the_server_stops(&mut c, id, &sent).await;
        let paused = *sent.borrow();
        assert!(
            (1..=65_535 / (SIZE + 5) + 1).contains(&paused),
            "the server sent {paused} messages to a paused reader"
        );
        // Reading again without taking anything brings the allowance back.
        c.t.read(id, 0);
        // (Until it has sent more, then stopped: a slow machine may take
        // more than one quiet interval to react.)
        while *sent.borrow() == paused {
            delivered += messages_until_the_server_stops(&mut c, id, &sent).await;
        }
        delivered += messages_until_the_server_stops(&mut c, id, &sent).await;
        let resumed = *sent.borrow();
        assert!(
            resumed >= UNREAD_ALLOWANCE / (SIZE + 5),
            "resumed, the server sent only {resumed} messages"
        );
        c.t.read(id, delivered as u32);
        delivered += read_to_the_end(&mut c, id).await;
        assert_eq!(delivered, COUNT);
    })
    .await;
}

#[tokio::test]
async fn without_read_acks_the_window_reopens_as_messages_arrive() {
    bounded(async {
        const COUNT: usize = 64;
        let (sent_tx, mut sent) = watch::channel(0usize);
        let server = start_server(
            Builder::new(),
            flow_controlled_source(COUNT, 16 * 1024, sent_tx),
        )
        .await;
        let mut c = Client::new();
        let mut opts = tcp_options(server.addr);
        opts.bdp_probe = false;
        let conn = c.connect(opts).await;
        let id = c.start_unary(conn, "/source", b"");
        timeout(EVENT_TIMEOUT, sent.wait_for(|&n| n == COUNT))
            .await
            .expect("every message sent without any read")
            .expect("server alive");
        let r = c.finish(id).await;
        assert_eq!((r.code, r.messages.len()), (Code::Ok, COUNT));
    })
    .await;
}

#[tokio::test]
async fn a_stalled_reader_does_not_hold_the_connection_window_shut() {
    bounded(async {
        const COUNT: usize = 64;
        let (sent_tx, _sent) = watch::channel(0usize);
        let server = start_server(
            Builder::new(),
            flow_controlled_source(COUNT, 16 * 1024, sent_tx),
        )
        .await;
        let mut c = Client::new();
        c.t.set_acks_reads(true);
        let mut opts = tcp_options(server.addr);
        // A connection window no larger than one stream's: a stream that
        // holds its unread bytes against both would shut the connection.
        opts.bdp_probe = false;
        opts.initial_stream_window = 65_535;
        opts.initial_conn_window = 65_535;
        let conn = c.connect(opts).await;
        let stalled = c.start_unary(conn, "/source", b"");
        // Its window fills and nothing of it is read.
        c.wait_for(
            "the stalled stream's first message",
            |e| matches!(e, Event::Message { stream, .. } if *stream == stalled),
        )
        .await;
        let _ = c.events_during(Duration::from_millis(300)).await;
        let reader = c.start_unary(conn, "/source", b"");
        let mut received = 0;
        loop {
            let e = c
                .wait_for("the reading stream's next message or status", |e| {
                    stream_of(e) == Some(reader)
                })
                .await;
            match e {
                Event::Message { .. } => {
                    received += 1;
                    c.t.read(reader, 1);
                }
                Event::Status { code, .. } => {
                    assert_eq!(code, Code::Ok);
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(received, COUNT);
        c.t.cancel(stalled);
    })
    .await;
}
