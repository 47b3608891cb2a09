//! Integration tests for message compression (against h2's real server) and
//! keepalive (against a hand-written HTTP/2 peer on a real socket that counts
//! PINGs and can stop answering them). Every wait is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use h2core::{
    decompress, encode_compressed, encode_message, Address, Code, ConnEvent, ConnectOptions,
    Encoding, Event, KeepaliveOptions, RecvEncoding, SendCompression, StartCall, Transport, Wake,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::{timeout, timeout_at, Instant};

const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<F: Future<Output = ()>>(body: F) {
    if timeout(Duration::from_secs(30), body).await.is_err() {
        panic!("test did not finish within 30 s");
    }
}

struct NotifyWake(Arc<Notify>);

impl Wake for NotifyWake {
    fn wake(&self) {
        self.0.notify_one();
    }
}

struct Client {
    t: Transport,
    notify: Arc<Notify>,
    backlog: Vec<Event>,
}

#[derive(Debug)]
struct Outcome {
    messages: Vec<Bytes>,
    code: Code,
    message: String,
}

impl Client {
    fn new() -> Client {
        let notify = Arc::new(Notify::new());
        Client {
            t: Transport::new(Box::new(NotifyWake(notify.clone()))),
            notify,
            backlog: Vec::new(),
        }
    }

    async fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            self.backlog.extend(self.t.drain(Vec::new()));
            if let Some(i) = self.backlog.iter().position(&pred) {
                return self.backlog.remove(i);
            }
            if timeout_at(deadline, self.notify.notified()).await.is_err() {
                panic!("timed out waiting for {what}: {:?}", self.backlog);
            }
        }
    }

    async fn conn_event(&mut self, id: u32) -> ConnEvent {
        match self
            .wait_for(
                "a connection event",
                |e| matches!(e, Event::Connection { conn, .. } if *conn == id),
            )
            .await
        {
            Event::Connection { event, .. } => event,
            _ => unreachable!(),
        }
    }

    async fn connect(&mut self, opts: ConnectOptions) -> u32 {
        let id = self.t.connect(opts);
        match self.conn_event(id).await {
            ConnEvent::Ready => id,
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    async fn finish(&mut self, stream: u32) -> Outcome {
        let mut messages = Vec::new();
        loop {
            let e = self
                .wait_for("the call's events", |e| match e {
                    Event::Message { stream: s, .. }
                    | Event::Status { stream: s, .. }
                    | Event::Headers { stream: s, .. }
                    | Event::WriteAck { stream: s } => *s == stream,
                    Event::Connection { .. } => false,
                })
                .await;
            match e {
                Event::Message { data, .. } => messages.push(data),
                Event::Status { code, message, .. } => {
                    return Outcome {
                        messages,
                        code,
                        message,
                    }
                }
                _ => {}
            }
        }
    }

    fn unary(&self, conn: u32, message: &[u8], metadata: &[u8]) -> u32 {
        self.t.start_call(StartCall {
            conn,
            path: "/test.Echo/Unary",
            metadata,
            message: Some(message),
            half_close: true,
            ..Default::default()
        })
    }
}

fn options(addr: SocketAddr) -> ConnectOptions {
    ConnectOptions::new(
        Address::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        format!("localhost:{}", addr.port()),
    )
}

// ---------------------------------------------------------------------------
// Compression against h2's server
// ---------------------------------------------------------------------------

/// What the server saw of one request.
#[derive(Debug)]
struct SeenRequest {
    headers: HeaderMap,
    body: Bytes,
}

/// The response: `grpc-encoding`, the framed body, and whether OK trailers
/// follow (without them the stream stays open, so a client reset shows).
type Reply = Arc<dyn Fn(&SeenRequest) -> (Option<&'static str>, Bytes, bool) + Send + Sync>;

/// An h2 server that records each request and answers with the encoding
/// and (already framed) body `reply` picks; it reports RST_STREAMs it gets.
async fn start_h2_server(
    reply: Reply,
) -> (
    SocketAddr,
    mpsc::UnboundedReceiver<SeenRequest>,
    mpsc::UnboundedReceiver<h2::Reason>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let (reset_tx, reset_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (reply, seen_tx, reset_tx) = (reply.clone(), seen_tx.clone(), reset_tx.clone());
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::Builder::new().handshake::<_, Bytes>(sock).await
                else {
                    return;
                };
                while let Some(Ok((req, resp))) = conn.accept().await {
                    let (reply, seen_tx, reset_tx) =
                        (reply.clone(), seen_tx.clone(), reset_tx.clone());
                    tokio::spawn(answer(req, resp, reply, seen_tx, reset_tx));
                }
            });
        }
    });
    (addr, seen_rx, reset_rx)
}

async fn answer(
    req: Request<RecvStream>,
    mut resp: SendResponse<Bytes>,
    reply: Reply,
    seen_tx: mpsc::UnboundedSender<SeenRequest>,
    reset_tx: mpsc::UnboundedSender<h2::Reason>,
) {
    let (parts, mut body) = req.into_parts();
    let mut data = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let seen = SeenRequest {
        headers: parts.headers,
        body: Bytes::from(data),
    };
    let (encoding, framed, end) = reply(&seen);
    let _ = seen_tx.send(seen);
    let mut head = Response::new(());
    head.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    if let Some(e) = encoding {
        head.headers_mut()
            .insert("grpc-encoding", HeaderValue::from_static(e));
    }
    let Ok(mut s) = resp.send_response(head, false) else {
        return;
    };
    let _ = s.send_data(framed, false);
    if end {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let _ = s.send_trailers(trailers);
    }
    if let Ok(reason) = std::future::poll_fn(|cx| s.poll_reset(cx)).await {
        let _ = reset_tx.send(reason);
    }
}

fn gzip() -> SendCompression {
    SendCompression {
        encoding: Encoding::Gzip,
        level: 6,
    }
}

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::test]
async fn compressed_request_and_response_round_trip() {
    bounded(async {
        // The server inflates the request and answers with it, gzip again.
        let reply: Reply = Arc::new(|seen: &SeenRequest| {
            let enc = RecvEncoding::from_header(
                seen.headers.get("grpc-encoding").map(HeaderValue::as_bytes),
            );
            let msg = decompress(&enc, &seen.body[5..], usize::MAX).expect("inflates");
            (Some("gzip"), encode_compressed(gzip(), &msg), true)
        });
        let (addr, mut seen, _) = start_h2_server(reply).await;
        let mut c = Client::new();
        let mut opts = options(addr);
        opts.compression = gzip();
        let conn = c.connect(opts).await;
        let msg = text(200_000);
        let out = c.finish(c.unary(conn, &msg, b"")).await;
        assert_eq!(out.code, Code::Ok, "{out:?}");
        assert_eq!(out.messages, vec![Bytes::from(msg.clone())]);
        let req = seen.recv().await.expect("request seen");
        assert_eq!(req.headers["grpc-encoding"], "gzip");
        assert_eq!(req.headers["grpc-accept-encoding"], "identity,deflate,gzip");
        assert_eq!(req.body[0], 1, "compressed flag");
        assert!(req.body.len() < msg.len() / 10, "{} bytes", req.body.len());
    })
    .await;
}

#[tokio::test]
async fn metadata_override_and_identity_calls() {
    bounded(async {
        let reply: Reply = Arc::new(|_: &SeenRequest| (None, encode_message(b"ok"), true));
        let (addr, mut seen, _) = start_h2_server(reply).await;
        let mut c = Client::new();
        let conn = c.connect(options(addr)).await;
        let msg = text(10_000);
        // No channel compression: plain frames.
        assert_eq!(c.finish(c.unary(conn, &msg, b"")).await.code, Code::Ok);
        let plain = seen.recv().await.expect("seen");
        assert!(plain.headers.get("grpc-encoding").is_none());
        assert_eq!(&plain.body[..], &encode_message(&msg)[..]);
        // The per-call key selects deflate and never reaches the wire.
        let md = b"grpc-internal-encoding-request\0deflate\0x-kept\0yes";
        assert_eq!(c.finish(c.unary(conn, &msg, md)).await.code, Code::Ok);
        let deflated = seen.recv().await.expect("seen");
        assert_eq!(deflated.headers["grpc-encoding"], "deflate");
        assert_eq!(deflated.headers["x-kept"], "yes");
        assert!(deflated
            .headers
            .get("grpc-internal-encoding-request")
            .is_none());
        let back = decompress(
            &RecvEncoding::Known(Encoding::Deflate),
            &deflated.body[5..],
            usize::MAX,
        )
        .expect("zlib format");
        assert_eq!(&back[..], &msg[..]);
    })
    .await;
}

#[tokio::test]
async fn bomb_is_resource_exhausted_and_cancelled() {
    bounded(async {
        // 256 MiB of zeros, compressed once here (well under 1 MiB on the wire).
        let zeros = vec![0u8; 256 << 20];
        let bomb = encode_compressed(gzip(), &zeros);
        drop(zeros);
        assert!(bomb.len() < 1 << 20);
        let reply: Reply = Arc::new(move |_: &SeenRequest| (Some("gzip"), bomb.clone(), false));
        let (addr, _, mut resets) = start_h2_server(reply).await;
        let mut c = Client::new();
        let conn = c.connect(options(addr)).await;
        let out = c.finish(c.unary(conn, b"x", b"")).await;
        assert_eq!(out.code, Code::ResourceExhausted, "{out:?}");
        assert_eq!(
            out.message,
            "Received message that decompresses to a size larger than 4194304"
        );
        let reason = timeout(EVENT_TIMEOUT, resets.recv())
            .await
            .expect("server saw the reset");
        assert_eq!(reason, Some(h2::Reason::CANCEL));
    })
    .await;
}

#[tokio::test]
async fn unknown_encoding_fails_only_compressed_messages() {
    bounded(async {
        let compressed = Arc::new(AtomicBool::new(false));
        let flag = compressed.clone();
        let reply: Reply = Arc::new(move |_: &SeenRequest| {
            let body = if flag.load(Ordering::Relaxed) {
                encode_compressed(gzip(), b"abc")
            } else {
                encode_message(b"abc")
            };
            (Some("snappy"), body, true)
        });
        let (addr, _, _) = start_h2_server(reply).await;
        let mut c = Client::new();
        let conn = c.connect(options(addr)).await;
        let out = c.finish(c.unary(conn, b"x", b"")).await;
        assert_eq!(
            out.code,
            Code::Ok,
            "plain message, unknown encoding: {out:?}"
        );
        compressed.store(true, Ordering::Relaxed);
        let out = c.finish(c.unary(conn, b"x", b"")).await;
        assert_eq!(out.code, Code::Internal);
        assert_eq!(out.message, "Compression method not supported: snappy");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Keepalive against a hand-written HTTP/2 peer
// ---------------------------------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame_header(len: usize, kind: u8, flags: u8, stream: u32) -> [u8; 9] {
    let l = (len as u32).to_be_bytes();
    let s = stream.to_be_bytes();
    [l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]
}

/// A minimal HTTP/2 server: SETTINGS exchange, then it reads frames,
/// counts PINGs, and ACKs them while `answer` is set. Requests are never
/// answered, so calls stay active.
struct PingPeer {
    addr: SocketAddr,
    pings: Arc<AtomicUsize>,
    answer: Arc<AtomicBool>,
}

async fn start_ping_peer() -> PingPeer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let pings = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(AtomicBool::new(true));
    let (p, a) = (pings.clone(), answer.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_pings(sock, p.clone(), a.clone()));
        }
    });
    PingPeer {
        addr,
        pings,
        answer,
    }
}

async fn serve_pings(mut sock: TcpStream, pings: Arc<AtomicUsize>, answer: Arc<AtomicBool>) {
    let mut preface = [0u8; 24];
    if sock.read_exact(&mut preface).await.is_err() || preface != PREFACE {
        return;
    }
    if sock.write_all(&frame_header(0, 4, 0, 0)).await.is_err() {
        return;
    }
    loop {
        let mut head = [0u8; 9];
        if sock.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let mut payload = vec![0u8; len];
        if sock.read_exact(&mut payload).await.is_err() {
            return;
        }
        let out = match (kind, flags & 1) {
            // SETTINGS (not an ACK): acknowledge.
            (4, 0) => frame_header(0, 4, 1, 0).to_vec(),
            // PING (not an ACK): count, and answer unless stalled.
            (6, 0) => {
                pings.fetch_add(1, Ordering::Relaxed);
                if !answer.load(Ordering::Relaxed) {
                    continue;
                }
                let mut f = frame_header(8, 6, 1, 0).to_vec();
                f.extend_from_slice(&payload);
                f
            }
            _ => continue,
        };
        if sock.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn keepalive_pings_an_idle_connection_when_permitted() {
    bounded(async {
        let peer = start_ping_peer().await;
        let mut c = Client::new();
        let mut opts = options(peer.addr);
        opts.keepalive = KeepaliveOptions {
            time: Some(Duration::from_millis(50)),
            timeout: Duration::from_millis(500),
            permit_without_calls: true,
        };
        let conn = c.connect(opts).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n = peer.pings.load(Ordering::Relaxed);
        // Loose below for loaded machines; a ping per poll would blow the top.
        assert!((3..=11).contains(&n), "{n} pings in 500 ms at 50 ms");
        c.backlog.extend(c.t.drain(Vec::new()));
        assert!(
            !c.backlog
                .iter()
                .any(|e| matches!(e, Event::Connection { conn: id, .. } if *id == conn)),
            "answered pings keep the connection: {:?}",
            c.backlog
        );
    })
    .await;
}

#[tokio::test]
async fn keepalive_without_calls_does_not_ping_unless_permitted() {
    bounded(async {
        let peer = start_ping_peer().await;
        let mut c = Client::new();
        let mut opts = options(peer.addr);
        opts.keepalive.time = Some(Duration::from_millis(50));
        let conn = c.connect(opts).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(peer.pings.load(Ordering::Relaxed), 0);
        // A call makes the connection active: pings start.
        let _call = c.unary(conn, b"x", b"");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(peer.pings.load(Ordering::Relaxed) >= 2);
    })
    .await;
}

#[tokio::test]
async fn unanswered_keepalive_closes_the_connection_and_fails_calls_unavailable() {
    bounded(async {
        let peer = start_ping_peer().await;
        let mut c = Client::new();
        let mut opts = options(peer.addr);
        opts.keepalive.time = Some(Duration::from_millis(100));
        opts.keepalive.timeout = Duration::from_millis(200);
        let conn = c.connect(opts).await;
        let call = c.unary(conn, b"x", b"");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(peer.pings.load(Ordering::Relaxed) >= 2, "answered first");
        peer.answer.store(false, Ordering::Relaxed);
        let stalled = Instant::now();
        let out = c.finish(call).await;
        assert_eq!(out.code, Code::Unavailable, "{out:?}");
        match c.conn_event(conn).await {
            ConnEvent::Closed { reason } => {
                assert!(reason.contains("keepalive"), "{reason}");
                assert!(reason.contains("200 ms"), "{reason}");
            }
            other => panic!("expected Closed, got {other:?}"),
        }
        let took = stalled.elapsed();
        // time + timeout is 300 ms; slack for loaded machines.
        assert!(took < Duration::from_secs(2), "{took:?}");
    })
    .await;
}
