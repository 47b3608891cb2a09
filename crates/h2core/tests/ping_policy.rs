//! The client's PINGs against grpc-go's server ping policy, enforced by a
//! hand-written HTTP/2 server on a real socket: a PING that arrives when the
//! server has written no DATA or HEADERS since it handled the previous PING is
//! a strike, and more than two strikes end the connection with GOAWAY
//! ENHANCE_YOUR_CALM "too_many_pings" (grpc-go's `handlePing` with its
//! default enforcement policy). The server streams many small messages in
//! bursts separated by pauses and flow-control stalls, which is where a client
//! that pings on stale evidence of server writes collects strikes.
//!
//! The same peer also streams a whole window of empty messages: the
//! ENHANCE_YOUR_CALM seen against grpc-go's benchmark server came from h2 in
//! our own client (its small-DATA-frame budget), not from the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::*;
use h2core::{Address, Code, ConnEvent, ConnectOptions, Event, StartCall, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep, timeout, timeout_at, Instant};

const ENHANCE_YOUR_CALM: u32 = 11;
/// grpc-go's `maxPingStrikes`.
const MAX_PING_STRIKES: usize = 2;

/// What the peer observed, for the assertions.
#[derive(Default)]
struct Counters {
    pings: AtomicUsize,
    strikes_max: AtomicUsize,
    messages_sent: AtomicUsize,
}

/// How the peer streams: `burst` messages of `size` bytes (one DATA frame
/// each), then a pause.
#[derive(Clone, Copy)]
struct Shape {
    size: u8,
    burst: usize,
    pause: Duration,
    total: usize,
}

/// Serves one connection: the first request gets a response stream of
/// `shape.total` small messages, written within the client's flow-control
/// windows, and then OK trailers.
async fn serve(sock: TcpStream, shape: Shape, counters: Arc<Counters>) {
    let (rd, mut wr) = sock.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_frames(rd, tx));
    if wr.write_all(&frame(SETTINGS, 0, 0, &[])).await.is_err() {
        return;
    }
    // The client's windows as this server must respect them.
    let mut stream_window: i64 = 65_535;
    let mut initial_window: i64 = 65_535;
    let mut conn_window: i64 = 65_535;
    let mut stream_id: Option<u32> = None;
    let mut sent = 0usize;
    let mut ended = false;
    // grpc-go's policy state: `resetPingStrikes` is set by every DATA or
    // HEADERS the server writes and consumed by the next PING.
    let mut wrote_since_ping = false;
    let mut strikes = 0usize;
    let mut next_burst = Instant::now();
    loop {
        let can_send = stream_id.is_some() && !ended;
        let f = tokio::select! {
            f = rx.recv() => match f {
                Some(f) => f,
                None => break,
            },
            _ = tokio::time::sleep_until(next_burst), if can_send && stream_window > 0 && conn_window > 0 => {
                let Some(id) = stream_id else { continue };
                let mut out = Vec::new();
                let mut n = 0;
                while n < shape.burst && sent < shape.total {
                    let mut msg = vec![0u8, 0, 0, 0, shape.size];
                    msg.resize(5 + usize::from(shape.size), 7);
                    let len = msg.len() as i64;
                    if stream_window < len || conn_window < len {
                        break;
                    }
                    out.extend(frame(DATA, 0, id, &msg));
                    stream_window -= len;
                    conn_window -= len;
                    sent += 1;
                    n += 1;
                }
                if sent == shape.total {
                    // grpc-status: 0 as a literal header without indexing.
                    let mut block = vec![0x00, 11];
                    block.extend_from_slice(b"grpc-status");
                    block.extend_from_slice(&[1, b'0']);
                    out.extend(frame(HEADERS, END_HEADERS | 1, id, &block));
                    ended = true;
                }
                if !out.is_empty() {
                    wrote_since_ping = true;
                    counters.messages_sent.store(sent, Ordering::Relaxed);
                    if wr.write_all(&out).await.is_err() {
                        break;
                    }
                }
                next_burst = Instant::now() + shape.pause;
                continue;
            }
        };
        match (f.kind, f.flags & ACK) {
            (SETTINGS, 0) => {
                for s in f.payload.chunks_exact(6) {
                    if u16::from_be_bytes([s[0], s[1]]) == 4 {
                        let v = i64::from(u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
                        stream_window += v - initial_window;
                        initial_window = v;
                    }
                }
                if wr.write_all(&frame(SETTINGS, ACK, 0, &[])).await.is_err() {
                    break;
                }
            }
            (HEADERS, _) if stream_id.is_none() => {
                stream_id = Some(f.stream);
                // :status 200 (static index 8), content-type: application/grpc
                // (literal, indexed name 31).
                let mut block = vec![0x88, 0x0f, 0x10, 16];
                block.extend_from_slice(b"application/grpc");
                if wr
                    .write_all(&frame(HEADERS, END_HEADERS, f.stream, &block))
                    .await
                    .is_err()
                {
                    break;
                }
                wrote_since_ping = true;
            }
            (WINDOW_UPDATE, _) if f.payload.len() == 4 => {
                let inc = i64::from(
                    u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]])
                        & 0x7fff_ffff,
                );
                if f.stream == 0 {
                    conn_window += inc;
                } else if Some(f.stream) == stream_id {
                    stream_window += inc;
                }
            }
            (PING, 0) => {
                counters.pings.fetch_add(1, Ordering::Relaxed);
                let mut out = frame(PING, ACK, 0, &f.payload);
                if wrote_since_ping {
                    wrote_since_ping = false;
                    strikes = 0;
                } else {
                    strikes += 1;
                    counters.strikes_max.fetch_max(strikes, Ordering::Relaxed);
                }
                if strikes > MAX_PING_STRIKES {
                    let mut goaway = stream_id.unwrap_or(0).to_be_bytes().to_vec();
                    goaway.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
                    goaway.extend_from_slice(b"too_many_pings");
                    out.extend(frame(GOAWAY, 0, 0, &goaway));
                    let _ = wr.write_all(&out).await;
                    sleep(Duration::from_millis(50)).await;
                    break;
                }
                if wr.write_all(&out).await.is_err() {
                    break;
                }
            }
            _ => {}
        }
    }
    reader.abort();
}

async fn start_peer(shape: Shape) -> (SocketAddr, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let addr = listen(move |sock| serve(sock, shape, c.clone())).await;
    (addr, counters)
}

/// Runs one server-streaming call to its status; returns the status code,
/// its message, the messages received and the GOAWAY codes seen.
async fn stream_call(addr: SocketAddr, window: Option<u32>) -> (Code, String, usize, Vec<u32>) {
    let notify = Arc::new(Notify::new());
    let t = Transport::new(Box::new(NotifyWake(notify.clone())));
    let mut opts = ConnectOptions::new(
        Address::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        format!("localhost:{}", addr.port()),
    );
    if let Some(w) = window {
        opts.initial_stream_window = w;
        opts.initial_conn_window = w;
        opts.bdp_probe = false;
    }
    let conn = t.connect(opts);
    let deadline = Instant::now() + Duration::from_secs(20);
    'ready: loop {
        for e in t.drain(Vec::new()) {
            match e {
                Event::Connection {
                    event: ConnEvent::Ready,
                    ..
                } => break 'ready,
                Event::Connection { event, .. } => panic!("connecting: {event:?}"),
                _ => {}
            }
        }
        if timeout_at(deadline, notify.notified()).await.is_err() {
            panic!("the connection was not ready within 20 s");
        }
    }
    let stream = t.start_call(StartCall {
        conn,
        path: "/test.Stream/Many",
        message: Some(b"go"),
        half_close: true,
        ..Default::default()
    });
    let mut received = 0usize;
    let mut goaways = Vec::new();
    loop {
        for e in t.drain(Vec::new()) {
            match e {
                Event::Message { stream: s, .. } if s == stream => received += 1,
                Event::Status {
                    stream: s,
                    code,
                    message,
                    ..
                } if s == stream => return (code, message, received, goaways),
                Event::Connection {
                    event: ConnEvent::GoAway { code, .. },
                    ..
                } => goaways.push(code),
                _ => {}
            }
        }
        if timeout_at(deadline, notify.notified()).await.is_err() {
            panic!("the call did not end within 20 s ({received} messages)");
        }
    }
}

async fn assert_no_strikeout(shape: Shape) {
    let (addr, counters) = start_peer(shape).await;
    let (code, message, received, goaways) =
        timeout(Duration::from_secs(30), stream_call(addr, None))
            .await
            .expect("bounded");
    let pings = counters.pings.load(Ordering::Relaxed);
    let strikes = counters.strikes_max.load(Ordering::Relaxed);
    assert_eq!(
        (code, goaways.as_slice()),
        (Code::Ok, &[][..]),
        "{message}; {received} messages, {pings} pings, up to {strikes} strikes"
    );
    assert_eq!(received, shape.total);
    // The client did probe (BDP), so the policy was exercised...
    assert!(pings > 0, "no pings at all");
    // ...and never pinged without server writes in between.
    assert_eq!(strikes, 0, "{pings} pings");
}

#[tokio::test]
async fn small_messages_in_bursts_with_pauses_draw_no_strikes() {
    assert_no_strikeout(Shape {
        size: 16,
        burst: 3,
        pause: Duration::from_millis(1),
        total: 3_000,
    })
    .await;
}

#[tokio::test]
async fn flow_control_stalls_draw_no_strikes() {
    // Bursts far larger than the window: the server mostly waits for
    // WINDOW_UPDATEs, so its writes come in window-sized steps.
    assert_no_strikeout(Shape {
        size: 16,
        burst: 100_000,
        pause: Duration::ZERO,
        total: 60_000,
    })
    .await;
}

#[tokio::test]
async fn a_window_full_of_small_messages_is_not_a_frame_flood() {
    // h2 closes the connection with GOAWAY ENHANCE_YOUR_CALM
    // "too_many_data_frames" when small DATA frames it holds for the call
    // exceed its framing budget (by default half the connection window).
    // Every byte here is within the windows the client granted, so it is
    // ordinary gRPC traffic: servers streaming empty messages (one 5-byte
    // DATA frame each) on four connections that share the transport's I/O
    // thread, so each call reads a little later than its connection
    // receives.
    let shape = Shape {
        size: 0,
        burst: 50_000,
        pause: Duration::ZERO,
        total: 300_000,
    };
    let (addr, _) = start_peer(shape).await;
    let window = Some(16 * 1024 * 1024);
    let (a, b, c, d) = timeout(Duration::from_secs(60), async {
        tokio::join!(
            stream_call(addr, window),
            stream_call(addr, window),
            stream_call(addr, window),
            stream_call(addr, window)
        )
    })
    .await
    .expect("bounded");
    for (code, message, received, goaways) in [a, b, c, d] {
        assert_eq!(
            (code, goaways.as_slice()),
            (Code::Ok, &[][..]),
            "{message}; {received} messages"
        );
        assert_eq!(received, shape.total);
    }
}
