//! A transparent wrapper around the connection's byte stream that watches the
//! frames the server sends. h2 does not tell a client when the server's first
//! SETTINGS arrives, what a GOAWAY's last-stream-id and debug data were, or how
//! many DATA bytes came in; reading the 9-byte frame headers as they pass is
//! cheap and gives all three without touching h2's parsing.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const FRAME_HEADER_LEN: usize = 9;
const TYPE_DATA: u8 = 0;
const TYPE_SETTINGS: u8 = 4;
const TYPE_GOAWAY: u8 = 7;
const FLAG_ACK: u8 = 1;
/// Debug data beyond this is dropped: it is for logs, not for memory.
const MAX_DEBUG_DATA: usize = 1024;

/// A GOAWAY as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAwayFrame {
    pub last_stream_id: u32,
    pub code: u32,
    pub debug: Bytes,
}

/// What the sniffer has seen, shared with the connection's driver.
#[derive(Debug, Default)]
pub struct FrameWatch {
    pub settings_seen: AtomicBool,
    pub data_bytes: AtomicU64,
    pub goaways: Mutex<Vec<GoAwayFrame>>,
}

#[derive(Debug)]
struct ParseState {
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    /// Payload bytes of the current frame still to pass by.
    remaining: usize,
    capturing_goaway: Option<Vec<u8>>,
}

pub struct Sniffer<T> {
    inner: T,
    state: ParseState,
    watch: Arc<FrameWatch>,
}

impl<T> Sniffer<T> {
    pub fn new(inner: T, watch: Arc<FrameWatch>) -> Sniffer<T> {
        Sniffer {
            inner,
            state: ParseState {
                header: [0; FRAME_HEADER_LEN],
                header_len: 0,
                remaining: 0,
                capturing_goaway: None,
            },
            watch,
        }
    }
}

impl ParseState {
    fn scan(&mut self, mut bytes: &[u8], watch: &FrameWatch) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(bytes.len());
                if let Some(buf) = self.capturing_goaway.as_mut() {
                    let room = (8 + MAX_DEBUG_DATA).saturating_sub(buf.len());
                    buf.extend_from_slice(&bytes[..take.min(room)]);
                }
                self.remaining -= take;
                bytes = &bytes[take..];
                if self.remaining == 0 {
                    self.finish_frame(watch);
                }
                continue;
            }
            let take = (FRAME_HEADER_LEN - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len < FRAME_HEADER_LEN {
                return;
            }
            self.header_len = 0;
            let h = &self.header;
            let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            let (kind, flags) = (h[3], h[4]);
            match kind {
                TYPE_DATA => {
                    watch.data_bytes.fetch_add(len as u64, Ordering::Relaxed);
                }
                TYPE_SETTINGS if flags & FLAG_ACK == 0 => {
                    watch.settings_seen.store(true, Ordering::Release);
                }
                TYPE_GOAWAY => {
                    self.capturing_goaway = Some(Vec::with_capacity(len.min(8 + MAX_DEBUG_DATA)))
                }
                _ => {}
            }
            self.remaining = len;
            if len == 0 {
                self.finish_frame(watch);
            }
        }
    }

    fn finish_frame(&mut self, watch: &FrameWatch) {
        let Some(buf) = self.capturing_goaway.take() else {
            return;
        };
        // A GOAWAY shorter than 8 bytes is a protocol error h2 will report;
        // there is nothing meaningful to record.
        if buf.len() < 8 {
            return;
        }
        let frame = GoAwayFrame {
            last_stream_id: u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) & 0x7fff_ffff,
            code: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            debug: Bytes::copy_from_slice(&buf[8..]),
        };
        watch
            .goaways
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(frame);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniffer<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            this.state.scan(&buf.filled()[before..], &this.watch);
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniffer<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn sees_settings_data_and_goaway_across_any_split() {
        let mut wire = frame(TYPE_SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        wire.extend(frame(TYPE_SETTINGS, FLAG_ACK, 0, &[]));
        wire.extend(frame(TYPE_DATA, 0, 1, &[1; 300]));
        let mut goaway = 7u32.to_be_bytes().to_vec();
        goaway.extend_from_slice(&11u32.to_be_bytes());
        goaway.extend_from_slice(b"max_age");
        wire.extend(frame(TYPE_GOAWAY, 0, 0, &goaway));
        for split in 0..wire.len() {
            let watch = FrameWatch::default();
            let mut st = Sniffer::new((), Arc::new(FrameWatch::default())).state;
            st.scan(&wire[..split], &watch);
            st.scan(&wire[split..], &watch);
            assert!(watch.settings_seen.load(Ordering::Acquire));
            assert_eq!(watch.data_bytes.load(Ordering::Relaxed), 300);
            let g = watch.goaways.lock().unwrap();
            assert_eq!(
                *g,
                vec![GoAwayFrame {
                    last_stream_id: 7,
                    code: 11,
                    debug: Bytes::from_static(b"max_age")
                }]
            );
        }
    }

    #[test]
    fn settings_ack_alone_is_not_readiness() {
        let watch = FrameWatch::default();
        let mut st = Sniffer::new((), Arc::new(FrameWatch::default())).state;
        st.scan(&frame(TYPE_SETTINGS, FLAG_ACK, 0, &[]), &watch);
        assert!(!watch.settings_seen.load(Ordering::Acquire));
    }

    #[test]
    fn huge_goaway_debug_data_is_capped() {
        let watch = FrameWatch::default();
        let mut st = Sniffer::new((), Arc::new(FrameWatch::default())).state;
        let mut payload = vec![0u8; 8];
        payload.extend(vec![b'x'; 100_000]);
        st.scan(&frame(TYPE_GOAWAY, 0, 0, &payload), &watch);
        assert_eq!(watch.goaways.lock().unwrap()[0].debug.len(), MAX_DEBUG_DATA);
    }
}
