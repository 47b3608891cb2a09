//! The h2 connection of one HTTP/2 connection, shared by its driver task (on
//! the I/O thread) and the embedder's thread.
//!
//! The driver polls it as it always did. The embedder's thread may poll it
//! once right after starting calls (`WriteNow::write_now`), so that their
//! frames reach the socket at once instead of after a wake-up of the I/O
//! thread: with one call in flight that wake-up is on every RPC's critical
//! path. It only ever tries the lock (a driver that holds it is polling, and
//! will write the frames itself) and polls with the driver's own waker, so
//! whatever the poll registers (socket readiness, h2's own wake-ups) still
//! wakes the driver; an end of the connection it sees is kept for the
//! driver, which reports it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use h2::client::Connection;
use tokio::io::{AsyncRead, AsyncWrite};

/// Polls a connection from outside its driver task.
pub(crate) trait WriteNow: Send + Sync {
    /// Polls the connection once on this thread, unless its driver is
    /// polling it right now or has not yet polled it.
    fn write_now(&self);
}

pub(crate) struct ConnCell<T> {
    state: Mutex<CellState<T>>,
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
        }
    }

    /// The driver's access. Critical sections are single polls; a panic in
    /// one leaves nothing half-updated that a later poll could trip on.
    pub fn lock(&self) -> MutexGuard<'_, CellState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
    fn write_now(&self) {
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
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(end) = Pin::new(&mut st.conn).poll(&mut cx) {
            st.done = Some(end);
            drop(st);
            waker.wake();
        }
    }
}
