//! The memory budget: bytes held in flight by every request together (bodies as read,
//! decoded, and their inspection trees), as Envoy's overload manager bounds its buffers.
//! Each body is capped on its own by `max_body_bytes`; this caps their sum, so 400 large
//! uploads at once cannot take a sidecar's memory.
//!
//! A request reserves before it holds: the declared length before the body is read (an
//! undeclared one as it arrives), then what decoding and inspection need. When the rest
//! of the budget is too small it waits up to `limits.admission_wait_ms` for other
//! requests to finish, then is refused `503 overloaded` with `Retry-After`, having
//! forwarded nothing. A reservation is given back when its guard drops.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug)]
pub struct Budget {
    capacity: AtomicUsize,
    used: AtomicUsize,
    peak: AtomicUsize,
    freed: Notify,
}

/// The budget had no room within the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

impl Budget {
    pub fn new(capacity: usize) -> Arc<Budget> {
        Arc::new(Budget {
            capacity: AtomicUsize::new(capacity),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// A reloaded policy's budget applies to reservations from now on (those held keep
    /// what they have).
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
        self.freed.notify_waiters();
    }

    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes ever reserved at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn try_take(&self, n: usize) -> bool {
        let cap = self.capacity();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(n).filter(|t| *t <= cap) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.used.fetch_sub(n, Ordering::AcqRel);
        self.freed.notify_waiters();
    }

    /// Takes `n` bytes, waiting up to `wait` for room.
    async fn take(&self, n: usize, wait: Duration) -> Result<(), Overloaded> {
        if self.try_take(n) {
            return Ok(());
        }
        if n > self.capacity() {
            return Err(Overloaded);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the second look, so a release between the two is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(n) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return self.try_take(n).then_some(()).ok_or(Overloaded);
            }
        }
    }

    /// An empty reservation, grown as the request holds more.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

/// Bytes a request holds of the budget, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Holds `n` bytes more, waiting up to `wait` for room.
    pub async fn grow(&mut self, n: usize, wait: Duration) -> Result<(), Overloaded> {
        self.budget.take(n, wait).await?;
        self.bytes += n;
        Ok(())
    }

    /// Gives back all but `n` bytes (what is still held once a tree is dropped).
    pub fn shrink_to(&mut self, n: usize) {
        if n < self.bytes {
            self.budget.give_back(self.bytes - n);
            self.bytes = n;
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_bounded_and_given_back() {
        let b = Budget::new(100);
        let mut a = b.reservation();
        a.grow(60, Duration::ZERO).await.unwrap();
        let mut c = b.reservation();
        assert_eq!(c.grow(50, Duration::from_millis(20)).await, Err(Overloaded));
        assert_eq!(b.used(), 60, "a refused reservation holds nothing");
        c.grow(40, Duration::ZERO).await.unwrap();
        assert_eq!(b.used(), 100);
        a.shrink_to(10);
        assert_eq!(b.used(), 50);
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0);
        assert_eq!(b.peak(), 100);
        // More than the whole budget is refused at once, without waiting.
        let t = std::time::Instant::now();
        let mut big = b.reservation();
        assert_eq!(big.grow(101, Duration::from_secs(5)).await, Err(Overloaded));
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_waiter_gets_what_another_gives_back() {
        let b = Budget::new(100);
        let mut held = b.reservation();
        held.grow(80, Duration::ZERO).await.unwrap();
        let b2 = b.clone();
        let waiter = tokio::spawn(async move {
            let mut r = b2.reservation();
            r.grow(50, Duration::from_secs(5)).await.map(|_| r.bytes())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "it waits while there is no room");
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(50));
        assert_eq!(b.used(), 0, "the waiter's reservation was dropped with it");
    }
}
