//! The h2 connection of one HTTP/2 connection, shared by its driver task (on
//! the I/O thread) and the embedder's thread.
//!
//! The driver polls it as it always did. The embedder's thread may start
//! calls while holding it and poll it once right after
//! (`WriteNow::send_and_write`), so that their frames reach the socket at
//! once instead of after a wake-up of the I/O thread: with one call in
//! flight that wake-up is on every RPC's critical path. The embedder only
//! ever tries the lock (a driver that holds it is polling, and will write
//! the frames itself) and polls with the driver's own waker, so whatever the
//! poll registers (socket readiness, h2's own wake-ups) still wakes the
//! driver; an end of the connection it sees is kept for the driver, which
//! reports it. The driver in turn only tries the lock: h2 wakes it as soon
//! as the embedder queues a frame, and rather than block on the embedder
//! (two threads meeting on h2's locks on every RPC, seen as futex waits)
//! it returns and is woken again when the embedder lets go.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use h2::client::Connection;
use tokio::io::{AsyncRead, AsyncWrite};

/// Sends from outside the connection's driver task.
pub(crate) trait WriteNow: Send + Sync {
    /// Runs `send` (which starts calls: h2 queues their frames) and then
    /// polls the connection once on this thread, all while holding the
    /// connection, so the driver task (which h2 wakes as soon as a frame is
    /// queued) neither races this thread for h2's locks nor writes half a
    /// call. Does nothing (the calls' tasks send them) while the driver is
    /// polling or has not polled yet.
    fn send_and_write(&self, send: &mut dyn FnMut());
}

pub(crate) struct ConnCell<T> {
    state: Mutex<CellState<T>>,
    /// The driver found the connection held by the embedder's thread and
    /// waits to be woken when it is released.
    driver_waiting: AtomicBool,
}

pub(crate) struct CellState<T> {
    pub conn: Connection<T, Bytes>,
    /// The driver task's waker, from its last poll.
    waker: Option<Waker>,
    /// The connection's end, when the embedder's poll saw it.
    done: Option<Result<(), h2::Error>>,
}

impl<T> ConnCell<T> {
    pub fn new(conn: Connection<T, Bytes>) -> ConnCell<T> {
        ConnCell {
            state: Mutex::new(CellState {
                conn,
                waker: None,
                done: None,
            }),
            driver_waiting: AtomicBool::new(false),
        }
    }

    /// The driver's access: `None` while the embedder's thread holds the
    /// connection, which then wakes the driver when it lets go. Critical
    /// sections are single polls; a panic in one leaves nothing half-updated
    /// that a later poll could trip on.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, CellState<T>>> {
        match self.state.try_lock() {
            Ok(st) => return Some(st),
            Err(TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
        self.driver_waiting.store(true, Ordering::SeqCst);
        // Released between the first try and the flag: take it now.
        match self.state.try_lock() {
            Ok(st) => Some(st),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

impl<T> CellState<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// The driver's poll of the connection: remembers the driver's waker for
    /// the embedder's polls, and returns an end one of those saw.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Error>> {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        if let Some(end) = self.done.take() {
            return Poll::Ready(end);
        }
        Pin::new(&mut self.conn).poll(cx)
    }
}

impl<T> WriteNow for ConnCell<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    fn send_and_write(&self, send: &mut dyn FnMut()) {
        let mut st = match self.state.try_lock() {
            Ok(st) => st,
            Err(TryLockError::WouldBlock) => return,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
        };
        if st.done.is_some() {
            return;
        }
        let Some(waker) = st.waker.clone() else {
            return;
        };
        send();
        let mut cx = Context::from_waker(&waker);
        let ended = match Pin::new(&mut st.conn).poll(&mut cx) {
            Poll::Ready(end) => {
                st.done = Some(end);
                true
            }
            Poll::Pending => false,
        };
        drop(st);
        if self.driver_waiting.swap(false, Ordering::SeqCst) || ended {
            waker.wake();
        }
    }
}
