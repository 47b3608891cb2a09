//! Receive flow control of one call: how much of what the server sent may be
//! handed back to its stream window (h2's `release_capacity`).
//!
//! With the embedder acknowledging reads, a message's bytes go back to the
//! window only once the embedder has taken the message (a Readable's `_read`,
//! an async iterator's `next()`), so a consumer that stops reading stops the
//! server within one window, as grpc-js does by pausing its HTTP/2 stream.
//!
//! A message still being reassembled holds its bytes too, except while the
//! embedder has read everything delivered: then they are released as they
//! come, so a message larger than the window can always arrive whole (its
//! buffer is bounded by the receive limit anyway). What a stalled reader
//! leaves buffered is thus at most one window plus one message.
//!
//! Without acknowledgements (an embedder that takes every message as it
//! comes) everything is released as it arrives.

use std::collections::VecDeque;

#[derive(Debug, Default)]
pub(crate) struct RecvWindow {
    /// Only release bytes of messages the embedder acknowledged.
    acks_reads: bool,
    /// Received bytes not yet released to h2.
    held: usize,
    /// Bytes of the current DATA chunk not yet attributed to a whole message.
    chunk_left: usize,
    /// Bytes of the message being reassembled received so far, and how many
    /// of them are still held.
    partial_seen: usize,
    partial_held: usize,
    /// Held bytes of each delivered, unacknowledged message, oldest first.
    unread: VecDeque<usize>,
    /// Sum of `unread`.
    unread_held: usize,
}

impl RecvWindow {
    pub fn new(acks_reads: bool) -> RecvWindow {
        RecvWindow {
            acks_reads,
            ..RecvWindow::default()
        }
    }

    /// `len` bytes of DATA arrived; the messages they complete follow.
    pub fn on_data(&mut self, len: usize) {
        self.held += len;
        self.chunk_left = len;
    }

    /// A whole message of `wire_len` bytes (prefix included) went to the
    /// embedder; its bytes are the reassembled ones plus the rest from the
    /// current chunk.
    pub fn on_message(&mut self, wire_len: usize) {
        let from_chunk = wire_len
            .saturating_sub(self.partial_seen)
            .min(self.chunk_left);
        self.chunk_left -= from_chunk;
        let held = self.partial_held + from_chunk;
        self.partial_seen = 0;
        self.partial_held = 0;
        if self.acks_reads {
            self.unread.push_back(held);
            self.unread_held += held;
        }
    }

    /// The embedder took `count` more messages (in delivery order).
    pub fn on_read(&mut self, count: u32) {
        for _ in 0..count {
            match self.unread.pop_front() {
                Some(held) => self.unread_held -= held,
                // More acknowledgements than messages: a confused embedder
                // must not make us hold back less than nothing.
                None => break,
            }
        }
    }

    /// Bytes that may go back to the window now: those of messages read (or,
    /// without acknowledgements, everything), and those of the message being
    /// reassembled while nothing delivered is unread.
    pub fn releasable(&mut self) -> usize {
        // What the chunk held beyond whole messages starts the next one.
        self.partial_seen += self.chunk_left;
        self.partial_held += self.chunk_left;
        self.chunk_left = 0;
        if !self.acks_reads || self.unread.is_empty() {
            self.partial_held = 0;
        }
        let keep = (self.unread_held + self.partial_held).min(self.held);
        let release = self.held - keep;
        self.held = keep;
        release
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_acks_everything_is_released_as_it_arrives() {
        let mut w = RecvWindow::new(false);
        w.on_data(100);
        w.on_message(100);
        assert_eq!(w.releasable(), 100);
        w.on_data(30);
        assert_eq!(w.releasable(), 30);
        assert_eq!(w.releasable(), 0);
    }

    #[test]
    fn messages_are_released_when_read() {
        let mut w = RecvWindow::new(true);
        w.on_data(30);
        w.on_message(10);
        w.on_message(20);
        assert_eq!(w.releasable(), 0);
        w.on_read(1);
        assert_eq!(w.releasable(), 10);
        w.on_read(1);
        assert_eq!(w.releasable(), 20);
        assert_eq!(w.held, 0);
    }

    #[test]
    fn a_split_message_is_held_whole_behind_an_unread_one() {
        let mut w = RecvWindow::new(true);
        w.on_data(10);
        w.on_message(10);
        assert_eq!(w.releasable(), 0);
        // A 100-byte message arrives in two chunks while the first is unread.
        w.on_data(60);
        assert_eq!(w.releasable(), 0);
        w.on_data(40);
        w.on_message(100);
        assert_eq!(w.releasable(), 0);
        w.on_read(1);
        assert_eq!(w.releasable(), 10);
        w.on_read(1);
        assert_eq!(w.releasable(), 100);
    }

    #[test]
    fn a_split_message_flows_while_the_reader_keeps_up() {
        // Larger than any window: it must be able to arrive whole.
        let mut w = RecvWindow::new(true);
        w.on_data(60);
        assert_eq!(w.releasable(), 60);
        w.on_data(60);
        assert_eq!(w.releasable(), 60);
        w.on_data(30);
        w.on_message(150);
        // Only the part that came with its completion is still held.
        assert_eq!(w.releasable(), 0);
        w.on_read(1);
        assert_eq!(w.releasable(), 30);
    }

    #[test]
    fn a_chunk_with_the_end_of_one_message_a_whole_one_and_the_start_of_another() {
        let mut w = RecvWindow::new(true);
        w.on_data(8);
        w.on_message(8);
        w.on_data(4); // 4 bytes of a 10-byte message, held behind the unread one
        assert_eq!(w.releasable(), 0);
        w.on_data(6 + 7 + 3); // its last 6, a 7-byte message, 3 bytes of the next
        w.on_message(10);
        w.on_message(7);
        assert_eq!(w.releasable(), 0);
        w.on_read(3);
        // All three read; the 3 bytes of the next message go too (nothing unread).
        assert_eq!(w.releasable(), 8 + 10 + 7 + 3);
    }

    #[test]
    fn extra_acknowledgements_are_ignored() {
        let mut w = RecvWindow::new(true);
        w.on_read(5);
        w.on_data(10);
        w.on_message(10);
        assert_eq!(w.releasable(), 0);
        w.on_read(2);
        assert_eq!(w.releasable(), 10);
    }
}
