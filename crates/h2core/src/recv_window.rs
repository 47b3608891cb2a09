//! Receive flow control of one call: how much of what the server sent may be
//! handed back to its stream window (h2's `release_capacity`).
//!
//! With the embedder acknowledging reads, a message's bytes go back to the
//! window only once the embedder has taken the message (a Readable's `_read`,
//! an async iterator's `next()`), so a consumer that stops reading stops the
//! server within one window, as grpc-js does by pausing its HTTP/2 stream.
//!
//! Unread bytes up to [`UNREAD_ALLOWANCE`] are released all the same: a reader
//! that keeps up still acknowledges late (the embedder reports reads in
//! batches, after its event loop's turn and a thread hop), and holding those
//! bytes would shrink a BDP-sized window by that latency and slow every fast
//! stream. A message still being reassembled holds its bytes too, except
//! while the unread bytes are within the allowance: then they are released
//! as they come, so a message larger than the window can always arrive whole
//! (its buffer is bounded by the receive limit anyway). A reader that stalls
//! leaves at most one window plus the allowance (and one message) buffered.
//!
//! A reader that says it has paused (a Readable whose buffer is full, an
//! iterator nobody pulls) gets no allowance until its next report: then only
//! the window it had when it paused reaches the server, as with grpc-js,
//! whose paused HTTP/2 stream stops taking DATA.
//!
//! An embedder must therefore report reads before it has taken more than
//! the allowance unreported, or a large message could wait for a report that
//! never comes (the JS side reports every 256 KiB: `READ_REPORT_BYTES` in
//! `ts/call/transport-call.ts`).
//!
//! Without acknowledgements (an embedder that takes every message as it
//! comes) everything is released as it arrives.

use std::collections::VecDeque;

/// Unread bytes a stream may have released to the server regardless.
pub const UNREAD_ALLOWANCE: usize = 2 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct RecvWindow {
    /// Only release bytes of messages the embedder acknowledged.
    acks_reads: bool,
    /// Received bytes not yet released to h2.
    held: usize,
    /// Bytes of the current DATA chunk not yet attributed to a whole message.
    chunk_left: usize,
    /// Bytes of the message being reassembled received so far.
    partial_seen: usize,
    /// Wire size of each delivered, unacknowledged message, oldest first.
    unread: VecDeque<usize>,
    /// Sum of `unread`.
    unread_bytes: usize,
    /// Unread bytes released regardless (see [`UNREAD_ALLOWANCE`]).
    allowance: usize,
    /// The embedder paused reading: the allowance does not apply until it
    /// reports reads again.
    paused: bool,
}

impl RecvWindow {
    pub fn new(acks_reads: bool) -> RecvWindow {
        RecvWindow::with_allowance(acks_reads, UNREAD_ALLOWANCE)
    }

    fn with_allowance(acks_reads: bool, allowance: usize) -> RecvWindow {
        RecvWindow {
            acks_reads,
            allowance,
            ..RecvWindow::default()
        }
    }

    /// `len` bytes of DATA arrived; the messages they complete follow.
    pub fn on_data(&mut self, len: usize) {
        self.held += len;
        self.chunk_left = len;
    }

    /// A whole message of `wire_len` bytes (prefix included) went to the
    /// embedder: what it had reassembled plus the rest from the current chunk.
    pub fn on_message(&mut self, wire_len: usize) {
        let from_chunk = wire_len
            .saturating_sub(self.partial_seen)
            .min(self.chunk_left);
        self.chunk_left -= from_chunk;
        self.partial_seen = 0;
        if self.acks_reads {
            self.unread.push_back(wire_len);
            self.unread_bytes += wire_len;
        }
    }

    /// The embedder stopped reading (until its next [`RecvWindow::on_read`]).
    pub fn on_pause(&mut self) {
        self.paused = true;
    }

    /// The embedder took `count` more messages (in delivery order), and reads
    /// on (a report of none is how a paused reader says it resumed).
    pub fn on_read(&mut self, count: u32) {
        self.paused = false;
        for _ in 0..count {
            match self.unread.pop_front() {
                Some(len) => self.unread_bytes -= len,
                // More acknowledgements than messages: a confused embedder
                // must not make us hold back less than nothing.
                None => break,
            }
        }
    }

    /// Bytes that may go back to the window now. What must stay held is what
    /// the unread messages and the message being reassembled received beyond
    /// the allowance; while the unread messages are within the allowance,
    /// nothing is held (so the message being reassembled flows too).
    pub fn releasable(&mut self) -> usize {
        // What the chunk held beyond whole messages starts the next one.
        self.partial_seen += self.chunk_left;
        self.chunk_left = 0;
        let allowance = if self.paused { 0 } else { self.allowance };
        let keep = if self.acks_reads && self.unread_bytes > allowance {
            (self.unread_bytes + self.partial_seen - allowance).min(self.held)
        } else {
            0
        };
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
        let mut w = RecvWindow::with_allowance(false, 0);
        w.on_data(100);
        w.on_message(100);
        assert_eq!(w.releasable(), 100);
        w.on_data(30);
        assert_eq!(w.releasable(), 30);
        assert_eq!(w.releasable(), 0);
    }

    #[test]
    fn messages_are_released_when_read() {
        let mut w = RecvWindow::with_allowance(true, 0);
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
        let mut w = RecvWindow::with_allowance(true, 0);
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
        let mut w = RecvWindow::with_allowance(true, 0);
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
        let mut w = RecvWindow::with_allowance(true, 0);
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
        let mut w = RecvWindow::with_allowance(true, 0);
        w.on_read(5);
        w.on_data(10);
        w.on_message(10);
        assert_eq!(w.releasable(), 0);
        w.on_read(2);
        assert_eq!(w.releasable(), 10);
    }

    #[test]
    fn unread_bytes_within_the_allowance_are_released() {
        let mut w = RecvWindow::with_allowance(true, 25);
        w.on_data(20);
        w.on_message(20);
        assert_eq!(w.releasable(), 20);
        w.on_data(20);
        w.on_message(20);
        // 40 unread: 25 may be out, so 15 are held.
        assert_eq!(w.releasable(), 5);
        assert_eq!(w.held, 15);
        w.on_read(2);
        assert_eq!(w.releasable(), 15);
        assert_eq!(w.held, 0);
    }

    #[test]
    fn a_reader_that_paused_gets_no_allowance_until_it_reads_again() {
        let mut w = RecvWindow::with_allowance(true, 25);
        w.on_data(10);
        w.on_message(10);
        assert_eq!(w.releasable(), 10);
        w.on_pause();
        w.on_data(10);
        w.on_message(10);
        // Within the allowance, but the reader paused: held, and so are
        // the bytes of a message still arriving.
        assert_eq!(w.releasable(), 0);
        w.on_data(4);
        assert_eq!(w.releasable(), 0);
        assert_eq!(w.held, 14);
        // Resumed without taking anything yet: the allowance is back.
        w.on_read(0);
        assert_eq!(w.releasable(), 14);
        assert_eq!(w.held, 0);
    }

    #[test]
    fn a_paused_reader_of_split_messages_gets_at_most_the_allowance_and_a_message() {
        // 64 KiB messages in 16 KiB frames, none ever read: what goes back
        // to the window is bounded whatever the message's split.
        let mut w = RecvWindow::new(true);
        let message = 65_536 + 5;
        let mut released = 0;
        for _ in 0..200 {
            let mut left = message;
            while left > 0 {
                let chunk = left.min(16_384);
                left -= chunk;
                w.on_data(chunk);
                if left == 0 {
                    w.on_message(message);
                }
                released += w.releasable();
            }
        }
        assert!(
            released <= UNREAD_ALLOWANCE + message,
            "released {released} to a reader that read nothing"
        );
        w.on_read(200);
        assert_eq!(released + w.releasable(), 200 * message);
    }
}
