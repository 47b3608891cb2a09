//! The embedder-facing API: connections and calls by integer id, commands in,
//! events out through one completion queue. Every method is synchronous and
//! cheap; the work happens on the shared tokio runtime.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tokio::runtime::Runtime;

use crate::call::{self, build_request, CallTask, Cmd, Start};
use crate::compression::Encoding;
use crate::connection::{drive, ConnHandle, ConnectOptions};
use crate::event::{ConnEvent, Event};
use crate::framing::encode_message;
use crate::mailbox::Mailbox;
use crate::queue::{CompletionQueue, Stats, Wake};
use crate::status::{Code, Status};

/// Ids are small sequential integers; hashing them again is wasted work.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// State shared by the embedder's thread and the runtime's tasks.
pub(crate) struct Shared {
    pub queue: CompletionQueue,
    conns: Mutex<IdMap<Arc<ConnHandle>>>,
    /// Each running call's mailbox, and whether it compresses what it sends.
    streams: Mutex<IdMap<(Arc<Mailbox>, bool)>>,
    /// Work submitted but not yet handed to the runtime (deferred mode).
    pending: Mutex<Pending>,
}

/// Calls and commands waiting for `flush`. Handing them over in one batch
/// costs one cross-thread wake-up instead of one per call or message, and
/// lets h2 put all their frames in one write.
#[derive(Default)]
struct Pending {
    // Boxed already: each becomes a task that needs it boxed (call::run).
    #[allow(clippy::vec_box)]
    calls: Vec<Box<CallTask>>,
    cmds: Vec<(Arc<Mailbox>, Cmd)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a single map operation, so a panic
    // elsewhere cannot leave the maps half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn remove_conn(&self, id: u32) {
        lock(&self.conns).remove(&id);
    }

    pub fn remove_stream(&self, id: u32) {
        lock(&self.streams).remove(&id);
    }
}

/// How an RPC starts: everything the first native call carries.
#[derive(Debug, Default)]
pub struct StartCall<'a> {
    pub conn: u32,
    /// Full method path, `/package.Service/Method`.
    pub path: &'a str,
    /// `:authority` override (the `host` call option); `None` uses the connection's.
    pub authority: Option<&'a str>,
    /// Custom metadata as `key\0value\0...`; `-bin` values already base64.
    pub metadata: &'a [u8],
    pub timeout: Option<Duration>,
    /// First (for unary: only) serialized message, unframed.
    pub message: Option<&'a [u8]>,
    pub half_close: bool,
    /// Overrides the connection's receive limit for this call.
    pub max_receive_message_length: Option<usize>,
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // One worker by default: on small machines JS owns one core and the
        // transport the other; more workers only add cross-thread wakeups.
        let workers = std::env::var("H2GRPC_WORKER_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| (1..=64).contains(&n))
            .unwrap_or(1);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("h2grpc-io")
            .enable_io()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("h2grpc: cannot start the I/O runtime: {e}"))
    })
}

/// At most this many calls started in one flush, on a connection with at
/// most this many open (these included), are sent from the embedder's
/// thread (see [`send_now`]); more go to the I/O thread, which then writes
/// them in one batch without taking the embedder's time.
const WRITE_NOW_CALLS: usize = 4;

/// Sends the requests of calls about to start from this thread and puts
/// them on the socket now (`conn_cell.rs`), instead of after the I/O
/// thread wakes up: with one call in flight that wake-up was on every RPC's
/// critical path. Calls that cannot be sent here are left to their task.
fn send_now(calls: &mut [Box<CallTask>]) {
    let mut start = 0;
    while start < calls.len() {
        // Calls of one connection are consecutive in the common case; each
        // run of them is sent under one hold of the connection.
        let conn = calls[start].conn.clone();
        let end = start
            + calls[start..]
                .iter()
                .take_while(|t| Arc::ptr_eq(&t.conn, &conn))
                .count();
        let few = conn.open_calls.load(Ordering::Relaxed) <= WRITE_NOW_CALLS;
        if let (true, Some(cell)) = (few, conn.write_now.get().and_then(Weak::upgrade)) {
            let run = &mut calls[start..end];
            cell.send_and_write(&mut || {
                for task in run.iter_mut() {
                    task.send_now();
                }
            });
        }
        start = end;
    }
}

/// One embedder's view of the transport (one per JS realm).
pub struct Transport {
    shared: Arc<Shared>,
    next_conn: AtomicU32,
    next_stream: AtomicU32,
    deferred: bool,
    acks_reads: bool,
}

impl Transport {
    pub fn new(waker: Box<dyn Wake>) -> Transport {
        Transport {
            shared: Arc::new(Shared {
                queue: CompletionQueue::new(waker),
                conns: Mutex::new(IdMap::default()),
                streams: Mutex::new(IdMap::default()),
                pending: Mutex::new(Pending::default()),
            }),
            next_conn: AtomicU32::new(1),
            next_stream: AtomicU32::new(1),
            deferred: false,
            acks_reads: false,
        }
    }

    /// In deferred mode, started calls and stream commands wait until
    /// [`Transport::flush`]; the embedder flushes once per turn of its event
    /// loop. Otherwise every call and command is handed over immediately.
    pub fn set_deferred(&mut self, deferred: bool) {
        self.deferred = deferred;
        if !deferred {
            self.flush();
        }
    }

    /// With `acks_reads`, a received message's bytes go back to the server's
    /// window only once the embedder reports it taken ([`Transport::read`]),
    /// so a consumer that stops reading stops the server (receive
    /// backpressure). Otherwise messages are released as they are queued.
    /// Applies to calls started afterwards.
    pub fn set_acks_reads(&mut self, acks_reads: bool) {
        self.acks_reads = acks_reads;
    }

    /// Reports that the embedder took `count` more of the stream's messages
    /// (only meaningful with [`Transport::set_acks_reads`]); after
    /// [`Transport::pause_reads`], a report (even of 0) says it reads again.
    /// In deferred mode it travels with the next flush, like every other
    /// command.
    pub fn read(&self, stream: u32, count: u32) {
        self.command(stream, Cmd::Read(count));
    }

    /// Reports that the embedder stopped taking the stream's messages: until
    /// its next [`Transport::read`], none of the unread bytes go back to the
    /// server's window, so the server is held to the window it already has.
    pub fn pause_reads(&self, stream: u32) {
        self.command(stream, Cmd::PauseReads);
    }

    /// Hands every pending call and command to the runtime in one wake-up.
    pub fn flush(&self) {
        Stats::add(&self.shared.queue.stats.calls_in, 1);
        let Pending { mut calls, cmds } = std::mem::take(&mut *lock(&self.shared.pending));
        if calls.is_empty() && cmds.is_empty() {
            return;
        }
        if calls.len() <= WRITE_NOW_CALLS {
            send_now(&mut calls);
        }
        // Straight to the runtime, without a task to spawn them: the first
        // spawn or command wakes the I/O thread, and tokio wakes no one for
        // the rest while it is awake (a spawner task cost a task and a poll
        // per flush, and a bidi message's command one each).
        let rt = runtime();
        for task in calls {
            rt.spawn(call::run(task, self.shared.clone()));
        }
        for (mailbox, cmd) in cmds {
            mailbox.send(cmd);
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.queue.stats
    }

    fn next_id(counter: &AtomicU32) -> u32 {
        loop {
            let id = counter.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    /// Starts dialing; the outcome arrives as `Connection` events (`Ready`, then
    /// eventually `Closed`). Invalid options also arrive as `Closed`.
    pub fn connect(&self, opts: ConnectOptions) -> u32 {
        Stats::add(&self.shared.queue.stats.calls_in, 1);
        let id = Self::next_id(&self.next_conn);
        let handle = match ConnHandle::new(id, &opts) {
            Ok(h) => Arc::new(h),
            Err(reason) => {
                self.shared.queue.push(Event::Connection {
                    conn: id,
                    event: ConnEvent::Closed { reason },
                });
                return id;
            }
        };
        lock(&self.shared.conns).insert(id, handle.clone());
        runtime().spawn(drive(handle, opts, self.shared.clone()));
        id
    }

    /// Closes a connection now; its calls end with UNAVAILABLE.
    pub fn close_connection(&self, conn: u32) {
        Stats::add(&self.shared.queue.stats.calls_in, 1);
        if let Some(h) = lock(&self.shared.conns).get(&conn) {
            h.shutdown.notify_one();
        }
    }

    /// Starts an RPC and returns its stream id. Failures to start (unknown or
    /// closed connection, invalid metadata) arrive as its `Status` event, so
    /// the embedder has a single completion path.
    pub fn start_call(&self, call: StartCall<'_>) -> u32 {
        let stats = &self.shared.queue.stats;
        Stats::add(&stats.calls_in, 1);
        Stats::add(&stats.streams_started, 1);
        let stream = Self::next_id(&self.next_stream);
        let conn = lock(&self.shared.conns).get(&call.conn).cloned();
        let prepared =
            conn.ok_or_else(|| Status::new(Code::Unavailable, "Connection is closed"))
                .and_then(|conn| {
                    let send_request =
                        conn.send_request.get().cloned().ok_or_else(|| {
                            Status::new(Code::Unavailable, "Connection is not ready")
                        })?;
                    let mut compression = conn.compression;
                    let request = build_request(
                        &conn,
                        call.path,
                        call.authority,
                        call.metadata,
                        call.timeout,
                        &mut compression,
                    )?;
                    Ok((conn, send_request, request, compression))
                });
        let (conn, send_request, request, compression) = match prepared {
            Ok(p) => p,
            Err(status) => {
                self.shared.queue.push(Event::Status {
                    stream,
                    code: status.code,
                    message: status.message,
                    trailers: HeaderMap::new(),
                });
                return stream;
            }
        };
        // A compressed call copies its message unframed; the I/O thread
        // compresses and frames it, so JS's thread never pays for zlib.
        let compresses = compression.encoding != Encoding::Identity;
        let first = call.message.map(|m| {
            Stats::add(&stats.bytes_copied, m.len() as u64);
            if compresses {
                Bytes::copy_from_slice(m)
            } else {
                encode_message(m)
            }
        });
        let mailbox = Arc::new(Mailbox::default());
        lock(&self.shared.streams).insert(stream, (mailbox.clone(), compresses));
        // Uncounted by the task when it ends.
        call::count_call(&conn);
        let task = Box::new(CallTask {
            stream,
            start: Start::Pending {
                send_request,
                request,
                first,
                first_raw: compresses,
            },
            compression,
            half_close: call.half_close,
            deadline: call.timeout.map(|t| tokio::time::Instant::now() + t),
            max_receive_message_length: call
                .max_receive_message_length
                .unwrap_or(conn.max_receive_message_length),
            acks_reads: self.acks_reads,
            cmds: mailbox,
            conn,
        });
        if self.deferred {
            lock(&self.shared.pending).calls.push(task);
        } else {
            runtime().spawn(call::run(task, self.shared.clone()));
        }
        stream
    }

    /// Queues one message on a streaming call; a `WriteAck` event follows once
    /// the stream can take more. Ignored if the call has already ended.
    pub fn send_message(&self, stream: u32, message: &[u8], end: bool) {
        self.send_message_with_ack(stream, message, end, true);
    }

    /// Like [`Transport::send_message`], with the `WriteAck` only when `ack`.
    /// Writes are taken in order, so one acknowledged write vouches for every
    /// write before it: an embedder can ask for an ack only when its own
    /// budget of unacknowledged bytes runs out, sparing an event per message.
    pub fn send_message_with_ack(&self, stream: u32, message: &[u8], end: bool, ack: bool) {
        let stats = &self.shared.queue.stats;
        Stats::add(&stats.calls_in, 1);
        Stats::add(&stats.bytes_copied, message.len() as u64);
        let Some((mailbox, compresses)) = lock(&self.shared.streams).get(&stream).cloned() else {
            return;
        };
        let cmd = if compresses {
            Cmd::Raw(Bytes::copy_from_slice(message), end, ack)
        } else {
            Cmd::Data(encode_message(message), end, ack)
        };
        self.post(mailbox, cmd);
    }

    pub fn half_close(&self, stream: u32) {
        Stats::add(&self.shared.queue.stats.calls_in, 1);
        self.command(stream, Cmd::HalfClose);
    }

    /// Cancels a call: RST_STREAM(CANCEL) goes out and no further event is
    /// reported for it (the embedder ends the call itself).
    pub fn cancel(&self, stream: u32) {
        Stats::add(&self.shared.queue.stats.calls_in, 1);
        if let Some((mailbox, _)) = lock(&self.shared.streams).remove(&stream) {
            mailbox.close();
        }
    }

    fn command(&self, stream: u32, cmd: Cmd) {
        let Some((mailbox, _)) = lock(&self.shared.streams).get(&stream).cloned() else {
            return;
        };
        self.post(mailbox, cmd);
    }

    fn post(&self, mailbox: Arc<Mailbox>, cmd: Cmd) {
        if self.deferred {
            lock(&self.shared.pending).cmds.push((mailbox, cmd));
        } else {
            mailbox.send(cmd);
        }
    }

    /// Takes all queued events (see [`CompletionQueue::drain`]).
    pub fn drain(&self, spare: Vec<Event>) -> Vec<Event> {
        self.shared.queue.drain(spare)
    }

    /// Number of calls still running (for leak checks in tests).
    pub fn active_streams(&self) -> usize {
        lock(&self.shared.streams).len()
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        for h in lock(&self.shared.conns).values() {
            h.shutdown.notify_one();
        }
        for (_, (mailbox, _)) in lock(&self.shared.streams).drain() {
            mailbox.close();
        }
    }
}
