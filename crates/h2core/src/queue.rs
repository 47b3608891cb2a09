//! The completion queue between the I/O threads and the embedder's thread.
//!
//! Producers push events from any thread; the first push after a drain asks
//! the embedder to wake up (one wake, however many events follow before it
//! drains). The embedder takes everything at once. This is what keeps
//! crossings into JavaScript at most one per event-loop turn.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::event::Event;

/// Asks the embedder to drain soon. Called from I/O threads; must not block.
pub trait Wake: Send + Sync {
    fn wake(&self);
}

/// Counters of what crossed the boundary, for benchmarks and diagnostics.
#[derive(Default, Debug)]
pub struct Stats {
    pub calls_in: AtomicU64,
    pub wakes_out: AtomicU64,
    pub drains: AtomicU64,
    pub events_out: AtomicU64,
    pub bytes_copied: AtomicU64,
    pub bytes_zero_copy: AtomicU64,
    pub streams_started: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub struct CompletionQueue {
    events: Mutex<Vec<Event>>,
    wake_scheduled: AtomicBool,
    waker: Box<dyn Wake>,
    pub stats: Stats,
}

impl CompletionQueue {
    pub fn new(waker: Box<dyn Wake>) -> CompletionQueue {
        CompletionQueue {
            events: Mutex::new(Vec::with_capacity(256)),
            wake_scheduled: AtomicBool::new(false),
            waker,
            stats: Stats::default(),
        }
    }

    pub fn push(&self, event: Event) {
        self.lock().push(event);
        self.schedule_wake();
    }

    /// Pushes several events under one lock and at most one wake.
    pub fn push_all(&self, events: impl IntoIterator<Item = Event>) {
        self.lock().extend(events);
        self.schedule_wake();
    }

    fn schedule_wake(&self) {
        // The flag is cleared by `drain` *before* it takes the events, so an
        // event pushed after that take always finds the flag clear and wakes.
        if !self.wake_scheduled.swap(true, Ordering::AcqRel) {
            Stats::add(&self.stats.wakes_out, 1);
            self.waker.wake();
        }
    }

    /// Takes every queued event, swapping in `spare` (an emptied vector from
    /// the previous drain) so steady state allocates nothing.
    pub fn drain(&self, spare: Vec<Event>) -> Vec<Event> {
        self.wake_scheduled.store(false, Ordering::Release);
        let mut spare = spare;
        spare.clear();
        let taken = std::mem::replace(&mut *self.lock(), spare);
        Stats::add(&self.stats.drains, 1);
        Stats::add(&self.stats.events_out, taken.len() as u64);
        taken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        // A panic while holding this lock cannot leave the Vec inconsistent,
        // so a poisoned lock is still safe to use.
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    struct CountWakes(Arc<AtomicUsize>);
    impl Wake for CountWakes {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn ack(stream: u32) -> Event {
        Event::WriteAck { stream }
    }

    #[test]
    fn one_wake_per_drain() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let q = CompletionQueue::new(Box::new(CountWakes(wakes.clone())));
        for i in 0..100 {
            q.push(ack(i));
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        let batch = q.drain(Vec::new());
        assert_eq!(batch.len(), 100);
        q.push(ack(1));
        q.push_all([ack(2), ack(3)]);
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
        assert_eq!(q.drain(batch).len(), 3);
        assert_eq!(q.stats.wakes_out.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn no_event_is_lost_across_threads() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let q = Arc::new(CompletionQueue::new(Box::new(CountWakes(wakes.clone()))));
        let producers: Vec<_> = (0..4)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        q.push(ack(t * 10_000 + i));
                    }
                })
            })
            .collect();
        let mut seen = 0;
        let mut spare = Vec::new();
        while producers.iter().any(|p| !p.is_finished()) {
            spare = q.drain(spare);
            seen += spare.len();
        }
        for p in producers {
            p.join().unwrap();
        }
        seen += q.drain(spare).len();
        assert_eq!(seen, 40_000);
        // Every wake was followed by a drain that could observe its events.
        assert!(wakes.load(Ordering::SeqCst) <= 40_000);
    }
}
