//! The command inbox of one call: what the embedder sends to a running call
//! (messages, half-close) and its cancellation (closing the box).
//!
//! A tokio mpsc channel would do, but it allocates a block of slots per
//! channel, and most calls (unary ones) never receive a command. This box
//! allocates only its `Arc` until something is queued.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::call::Cmd;

#[derive(Default)]
struct State {
    queue: VecDeque<Cmd>,
    closed: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Critical sections are single queue operations: never inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a command; dropped if the box is closed (the call is cancelled).
    pub fn send(&self, cmd: Cmd) {
        let waker = {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            st.queue.push_back(cmd);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Cancels the call: queued commands are dropped, the receiver sees `None`.
    pub fn close(&self) {
        let waker = {
            let mut st = self.lock();
            st.closed = true;
            st.queue.clear();
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Next command, or `None` once closed.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Cmd>> {
        let mut st = self.lock();
        if st.closed {
            return Poll::Ready(None);
        }
        if let Some(cmd) = st.queue.pop_front() {
            return Poll::Ready(Some(cmd));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub async fn recv(&self) -> Option<Cmd> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    #[tokio::test]
    async fn delivers_in_order_then_none_after_close() {
        let mb = Arc::new(Mailbox::default());
        mb.send(Cmd::Data(Bytes::from("a"), false, true));
        mb.send(Cmd::HalfClose);
        assert!(matches!(mb.recv().await, Some(Cmd::Data(d, false, true)) if d == "a"));
        assert!(matches!(mb.recv().await, Some(Cmd::HalfClose)));
        let waiter = {
            let mb = mb.clone();
            tokio::spawn(async move { mb.recv().await.is_none() })
        };
        tokio::task::yield_now().await;
        mb.close();
        assert!(waiter.await.unwrap());
        mb.send(Cmd::HalfClose);
        assert!(mb.recv().await.is_none());
    }

    #[tokio::test]
    async fn close_drops_queued_commands() {
        let mb = Mailbox::default();
        mb.send(Cmd::HalfClose);
        mb.close();
        assert!(mb.recv().await.is_none());
    }
}
