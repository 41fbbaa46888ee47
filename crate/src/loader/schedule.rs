//! What to fetch next, what to keep, what to drop — with no I/O of its own, so that
//! the browser (Workers, fetch) and native code drive the same policy, and tests drive
//! it with a simulated clock.
//!
//! Order: every series' metadata first, then a first image per series (thumbnails),
//! then the image in view, then its neighbours outward in both directions, then the
//! rest of that series, then the other series. When the view moves, queued work is
//! re-ranked and in-flight requests that fell out of the wanted set are cancelled.
//! Transient failures (5xx, 429, dropped connections) retry with exponential
//! backoff; a permanent failure marks that slot and nothing else. Concurrency adapts
//! to the server: the window of requests in flight halves on each transient failure
//! (overload: 429, 503, dropped connections) and grows back by about one request per
//! round of successes, up to the policy's ceiling (about 6 per origin on HTTP/1.1,
//! more on HTTP/2). Decoded bytes, plus bytes reserved for what is built from them
//! (MPR volumes), stay under a budget that is never exceeded: the frames farthest
//! from the view go first.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Work {
    /// WADO-RS metadata of series `series` (index in the order the series were added).
    SeriesMetadata { series: usize },
    /// Image `image` (index in display order) of series `series`.
    Image { series: usize, image: usize },
}

/// The state of one image slot.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    Missing,
    Queued,
    InFlight,
    /// Decoded and resident, `bytes` long.
    Resident {
        bytes: u64,
    },
    /// Waiting until `at_ms` to retry (attempt `attempt` failed).
    Backoff {
        at_ms: f64,
        attempt: u32,
    },
    /// Failed for good; the viewer shows this message in the slot.
    Failed(String),
}

#[derive(Debug, Clone)]
struct Series {
    metadata: Slot,
    metadata_attempts: u32,
    images: Vec<Slot>,
    attempts: Vec<u32>,
}

/// The scheduler's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Requests in flight at once (about 6 per origin on HTTP/1.1, more on HTTP/2).
    pub max_in_flight: usize,
    /// Decoded bytes kept resident; never exceeded.
    pub budget_bytes: u64,
    /// Retries of a transient failure before the slot is marked failed.
    pub max_attempts: u32,
    /// First backoff delay; doubles with each attempt.
    pub backoff_ms: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_in_flight: 6,
            budget_bytes: 1 << 30,
            max_attempts: 4,
            backoff_ms: 250.0,
        }
    }
}

/// How a piece of work ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Metadata: the series has `images` images.
    Metadata { images: usize },
    /// An image decoded to `bytes` bytes.
    Decoded { bytes: u64 },
    /// Worth retrying (5xx, 429 with `retry_after_ms`, dropped connection, timeout).
    Transient { retry_after_ms: Option<f64> },
    /// Not worth retrying (404, corrupt, unsupported): shown in the slot.
    Permanent(String),
    /// Cancelled by the scheduler.
    Cancelled,
}

impl Policy {
    /// The slot after the `attempt`-th transient failure: back off (the server's
    /// Retry-After, bounded to a minute, else exponential), or fail after the last try.
    fn after_transient(
        &self,
        attempt: u32,
        retry_after_ms: Option<f64>,
        now_ms: f64,
        what: &str,
    ) -> Slot {
        if attempt >= self.max_attempts {
            return Slot::Failed(format!("{what} {attempt} times"));
        }
        let delay = retry_after_ms
            .filter(|d| d.is_finite())
            .map(|d| d.clamp(0.0, 60_000.0))
            .unwrap_or(self.backoff_ms * 2f64.powi(attempt as i32 - 1));
        Slot::Backoff {
            at_ms: now_ms + delay,
            attempt,
        }
    }
}

pub struct Scheduler {
    policy: Policy,
    series: Vec<Series>,
    focus: Option<(usize, usize)>,
    /// Work in flight and the request that carries it (several images of one
    /// multi-frame instance can share a request: a WADO-RS frame list).
    in_flight: BTreeMap<Work, u64>,
    /// Requests in flight: id → (images of it still outstanding, whether one of
    /// them already failed transiently).
    requests: HashMap<u64, (usize, bool)>,
    next_request: u64,
    resident_bytes: u64,
    /// Budget bytes held by things other than frames (MPR volumes).
    reserved_bytes: u64,
    /// Requests allowed in flight now: 1 ..= policy.max_in_flight (AIMD).
    window: f64,
}

impl Scheduler {
    pub fn new(policy: Policy) -> Self {
        Scheduler {
            policy,
            series: Vec::new(),
            focus: None,
            in_flight: BTreeMap::new(),
            requests: HashMap::new(),
            next_request: 0,
            resident_bytes: 0,
            reserved_bytes: 0,
            window: policy.max_in_flight.max(1) as f64,
        }
    }

    /// Sets the ceiling of requests in flight (the shell knows the connection:
    /// HTTP/1.1 or HTTP/2); the current window starts over at it.
    pub fn set_max_in_flight(&mut self, n: usize) {
        self.policy.max_in_flight = n.max(1);
        self.window = self.policy.max_in_flight as f64;
    }

    /// Requests allowed in flight now (the adaptive window, rounded down).
    pub fn window(&self) -> usize {
        (self.window.floor() as usize).clamp(1, self.policy.max_in_flight.max(1))
    }

    /// Reserves `bytes` of the budget for something built from the frames (an MPR
    /// volume on the GPU), replacing the previous reservation; returns the images
    /// evicted to make room (farthest from the view first). Fails, changing
    /// nothing, when the reservation alone would leave no room for the image in view.
    pub fn reserve(&mut self, bytes: u64) -> Result<Vec<(usize, usize)>, String> {
        let focus_bytes = self
            .focus
            .and_then(|(s, i)| match self.slot(s, i) {
                Some(Slot::Resident { bytes }) => Some(*bytes),
                _ => None,
            })
            .unwrap_or(0);
        if bytes.saturating_add(focus_bytes) > self.policy.budget_bytes {
            return Err(format!(
                "{} MB do not fit the memory budget of {} MB",
                bytes.div_ceil(1 << 20),
                self.policy.budget_bytes >> 20
            ));
        }
        self.reserved_bytes = bytes;
        Ok(self.evict_to_budget())
    }

    /// Bytes reserved with [`Scheduler::reserve`].
    pub fn reserved_bytes(&self) -> u64 {
        self.reserved_bytes
    }

    /// The budget left for frames.
    fn frame_budget(&self) -> u64 {
        self.policy.budget_bytes.saturating_sub(self.reserved_bytes)
    }

    /// Adds a series whose metadata is still to be fetched; returns its index.
    pub fn add_series(&mut self) -> usize {
        self.series.push(Series {
            metadata: Slot::Queued,
            metadata_attempts: 0,
            images: Vec::new(),
            attempts: Vec::new(),
        });
        self.series.len() - 1
    }

    /// Adds a series whose metadata is already known (the viewer reads it when the
    /// study opens): its `images` images are queued at once.
    pub fn add_known_series(&mut self, images: usize) -> usize {
        let index = self.add_series();
        self.complete(
            Work::SeriesMetadata { series: index },
            Outcome::Metadata { images },
            0.0,
        );
        index
    }

    /// Marks an image failed before any request (its metadata cannot describe it).
    pub fn mark_failed(&mut self, series: usize, image: usize, message: String) {
        if let Some(slot) = self
            .series
            .get_mut(series)
            .and_then(|s| s.images.get_mut(image))
        {
            *slot = Slot::Failed(message);
        }
    }

    /// Forgets every resident image (the GPU device was lost with their textures):
    /// they are wanted, and fetched, again. Returns them.
    pub fn drop_resident(&mut self) -> Vec<(usize, usize)> {
        let mut dropped = Vec::new();
        for (si, s) in self.series.iter_mut().enumerate() {
            for (ii, slot) in s.images.iter_mut().enumerate() {
                if matches!(slot, Slot::Resident { .. }) {
                    *slot = Slot::Missing;
                    dropped.push((si, ii));
                }
            }
        }
        self.resident_bytes = 0;
        dropped
    }

    /// (resident, failed, total) images of a series.
    pub fn progress(&self, series: usize) -> (usize, usize, usize) {
        let Some(s) = self.series.get(series) else {
            return (0, 0, 0);
        };
        let resident = s
            .images
            .iter()
            .filter(|x| matches!(x, Slot::Resident { .. }))
            .count();
        let failed = s
            .images
            .iter()
            .filter(|x| matches!(x, Slot::Failed(_)))
            .count();
        (resident, failed, s.images.len())
    }

    /// The image in view. Returns the in-flight work that is no longer wanted, to cancel.
    pub fn set_focus(&mut self, series: usize, image: usize) -> Vec<Work> {
        self.focus = Some((series, image));
        let wanted: BTreeSet<Work> = self.ranked_wanted(usize::MAX).into_iter().collect();
        // In flight and outside what the next few rounds would ask for: cancel it.
        let horizon: BTreeSet<Work> = self
            .ranked_wanted(self.policy.max_in_flight * 4)
            .into_iter()
            .collect();
        let cancel: Vec<Work> = self
            .in_flight
            .keys()
            .copied()
            .filter(|w| {
                matches!(w, Work::Image { .. }) && !horizon.contains(w) && wanted.contains(w)
            })
            .collect();
        cancel
    }

    pub fn resident_bytes(&self) -> u64 {
        self.resident_bytes
    }

    pub fn slot(&self, series: usize, image: usize) -> Option<&Slot> {
        self.series.get(series)?.images.get(image)
    }

    /// Images in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Requests in flight (a frame list counts once).
    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Rank of an image for the current focus: lower is sooner.
    fn image_rank(&self, series: usize, image: usize) -> (u8, usize, usize) {
        if image == 0 {
            return (1, series, 0); // thumbnails, series by series
        }
        match self.focus {
            Some((fs, fi)) if fs == series => (2, fi.abs_diff(image), image),
            Some((fs, _)) => (3, series.abs_diff(fs), image),
            None => (3, series, image),
        }
    }

    /// Work not yet done, best first, at most `limit` items.
    fn ranked_wanted(&self, limit: usize) -> Vec<Work> {
        let mut metadata: Vec<Work> = Vec::new();
        let mut images: Vec<((u8, usize, usize), Work)> = Vec::new();
        for (s, series) in self.series.iter().enumerate() {
            if matches!(series.metadata, Slot::Queued | Slot::InFlight) {
                metadata.push(Work::SeriesMetadata { series: s });
            }
            for (i, slot) in series.images.iter().enumerate() {
                if matches!(slot, Slot::Queued | Slot::InFlight | Slot::Missing) {
                    let mut rank = self.image_rank(s, i);
                    if s == self.focus.map(|f| f.0).unwrap_or(usize::MAX)
                        && i == self.focus.map(|f| f.1).unwrap_or(usize::MAX)
                    {
                        rank = (0, 0, 0); // the image in view beats thumbnails
                    }
                    images.push((
                        rank,
                        Work::Image {
                            series: s,
                            image: i,
                        },
                    ));
                }
            }
        }
        images.sort();
        metadata
            .into_iter()
            .chain(images.into_iter().map(|(_, w)| w))
            .take(limit)
            .collect()
    }

    /// The next requests to start at time `now_ms`, filling free capacity, one
    /// piece of work per request. Work in backoff whose time has come is queued
    /// again first.
    pub fn next(&mut self, now_ms: f64) -> Vec<Work> {
        self.next_batched(now_ms, 1, |_| None::<()>)
            .into_iter()
            .flatten()
            .collect()
    }

    /// Like [`Scheduler::next`], but a request may carry up to `max_batch` images
    /// with the same `request_key` (the frames of one multi-frame instance; `None`:
    /// a request of its own). The window counts requests; each batch is in rank
    /// order, so the image in view leads its request. Work past the free requests
    /// is looked at only as far as `max_batch` more per request (this runs on every
    /// delivered frame: it must not walk a whole study).
    pub fn next_batched<K: PartialEq>(
        &mut self,
        now_ms: f64,
        max_batch: usize,
        request_key: impl Fn(&Work) -> Option<K>,
    ) -> Vec<Vec<Work>> {
        for series in &mut self.series {
            for slot in series.images.iter_mut() {
                if let Slot::Backoff { at_ms, .. } = slot {
                    if *at_ms <= now_ms {
                        *slot = Slot::Queued;
                    }
                }
            }
            if let Slot::Backoff { at_ms, .. } = series.metadata {
                if at_ms <= now_ms {
                    series.metadata = Slot::Queued;
                }
            }
        }
        let free = self.window().saturating_sub(self.requests.len());
        if free == 0 {
            return Vec::new();
        }
        let max_batch = max_batch.max(1);
        let lookahead = free * max_batch * 2;
        // Metadata gates everything: no images of a series before its metadata.
        let ranked = self.ranked_wanted(usize::MAX);
        let candidates = ranked
            .into_iter()
            .filter(|w| !self.in_flight.contains_key(w))
            .filter(|w| self.fits_budget(*w));
        let mut open: Vec<(Option<K>, Vec<Work>)> = Vec::new();
        for (seen, w) in candidates.enumerate() {
            let key = match w {
                Work::Image { .. } if max_batch > 1 => request_key(&w),
                _ => None,
            };
            let joined = key.as_ref().and_then(|k| {
                open.iter()
                    .position(|(bk, b)| bk.as_ref() == Some(k) && b.len() < max_batch)
            });
            match joined {
                Some(i) => open[i].1.push(w),
                None if open.len() < free => open.push((key, vec![w])),
                None => {}
            }
            let filling = open.iter().any(|(k, b)| k.is_some() && b.len() < max_batch);
            if open.len() == free && (!filling || seen >= lookahead) {
                break;
            }
        }
        let batches: Vec<Vec<Work>> = open.into_iter().map(|(_, b)| b).collect();
        for batch in &batches {
            let id = self.next_request;
            self.next_request += 1;
            self.requests.insert(id, (batch.len(), false));
            for w in batch {
                self.in_flight.insert(*w, id);
                match *w {
                    Work::SeriesMetadata { series } => {
                        self.series[series].metadata = Slot::InFlight
                    }
                    Work::Image { series, image } => {
                        self.series[series].images[image] = Slot::InFlight
                    }
                }
            }
        }
        batches
    }

    /// Whether decoding this image could still fit: an image of a series whose
    /// resident images are all nearer the view than it is waits rather than evicts.
    fn fits_budget(&self, w: Work) -> bool {
        let Work::Image { series, image } = w else {
            return true;
        };
        let estimate = self.series[series]
            .images
            .iter()
            .find_map(|s| {
                if let Slot::Resident { bytes } = s {
                    Some(*bytes)
                } else {
                    None
                }
            })
            .unwrap_or(0);
        if self.resident_bytes + estimate <= self.frame_budget() {
            return true;
        }
        let rank = self.image_rank(series, image);
        self.eviction_order()
            .first()
            .map(|&(s, i)| self.image_rank(s, i) > rank)
            .unwrap_or(false)
    }

    /// Resident images, farthest from the view first.
    fn eviction_order(&self) -> Vec<(usize, usize)> {
        let mut v: Vec<((u8, usize, usize), (usize, usize))> = Vec::new();
        for (s, series) in self.series.iter().enumerate() {
            for (i, slot) in series.images.iter().enumerate() {
                if matches!(slot, Slot::Resident { .. }) && Some((s, i)) != self.focus {
                    v.push((self.image_rank(s, i), (s, i)));
                }
            }
        }
        v.sort();
        v.into_iter().rev().map(|(_, k)| k).collect()
    }

    /// Records how a piece of work ended at `now_ms`. Returns the images evicted to
    /// stay under the budget (the caller frees their textures; they are fetched
    /// again when wanted).
    pub fn complete(&mut self, work: Work, outcome: Outcome, now_ms: f64) -> Vec<(usize, usize)> {
        // A request that fails fails for all its images: it backs off once.
        let mut first_failure_of_request = true;
        if let Some(id) = self.in_flight.remove(&work) {
            if let Some((left, failed)) = self.requests.get_mut(&id) {
                if matches!(outcome, Outcome::Transient { .. }) {
                    first_failure_of_request = !*failed;
                    *failed = true;
                }
                *left -= 1;
                if *left == 0 {
                    self.requests.remove(&id);
                }
            }
        }
        let policy = self.policy;
        match (work, outcome) {
            (Work::SeriesMetadata { series }, Outcome::Metadata { images }) => {
                let s = &mut self.series[series];
                s.metadata = Slot::Resident { bytes: 0 };
                s.images = vec![Slot::Queued; images];
                s.attempts = vec![0; images];
            }
            (Work::SeriesMetadata { series }, Outcome::Transient { retry_after_ms }) => {
                let s = &mut self.series[series];
                s.metadata_attempts += 1;
                s.metadata = policy.after_transient(
                    s.metadata_attempts,
                    retry_after_ms,
                    now_ms,
                    "metadata failed",
                );
            }
            (Work::SeriesMetadata { series }, Outcome::Permanent(m)) => {
                self.series[series].metadata = Slot::Failed(m)
            }
            (Work::SeriesMetadata { series }, _) => self.series[series].metadata = Slot::Queued,
            (Work::Image { series, image }, Outcome::Decoded { bytes }) => {
                // Additive increase: about one more request per window of successes.
                let max = policy.max_in_flight.max(1) as f64;
                self.window = (self.window + 1.0 / self.window).min(max);
                self.series[series].images[image] = Slot::Resident { bytes };
                self.resident_bytes += bytes;
                return self.evict_to_budget();
            }
            (Work::Image { series, image }, Outcome::Transient { retry_after_ms }) => {
                // Multiplicative decrease: the server or the path is overloaded.
                if first_failure_of_request {
                    self.window = (self.window / 2.0).max(1.0);
                }
                let s = &mut self.series[series];
                s.attempts[image] += 1;
                s.images[image] =
                    policy.after_transient(s.attempts[image], retry_after_ms, now_ms, "failed");
            }
            (Work::Image { series, image }, Outcome::Permanent(m)) => {
                self.series[series].images[image] = Slot::Failed(m)
            }
            (Work::Image { series, image }, _) => self.series[series].images[image] = Slot::Queued,
        }
        Vec::new()
    }

    fn evict_to_budget(&mut self) -> Vec<(usize, usize)> {
        let mut evicted = Vec::new();
        for (s, i) in self.eviction_order() {
            if self.resident_bytes <= self.frame_budget() {
                break;
            }
            if let Slot::Resident { bytes } = self.series[s].images[i] {
                self.resident_bytes -= bytes;
                self.series[s].images[i] = Slot::Missing;
                evicted.push((s, i));
            }
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_metadata(s: &mut Scheduler, images: &[usize]) {
        let started = s.next(0.0);
        assert!(started
            .iter()
            .all(|w| matches!(w, Work::SeriesMetadata { .. })));
        for (series, &n) in images.iter().enumerate() {
            s.complete(
                Work::SeriesMetadata { series },
                Outcome::Metadata { images: n },
                0.0,
            );
        }
    }

    #[test]
    fn metadata_then_view_then_thumbnails_then_neighbours_outward() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 7,
            ..Policy::default()
        });
        s.add_series();
        s.add_series();
        run_metadata(&mut s, &[20, 10]);
        s.set_focus(0, 10);
        let order = s.next(0.0);
        assert_eq!(
            order,
            vec![
                Work::Image {
                    series: 0,
                    image: 10
                },
                Work::Image {
                    series: 0,
                    image: 0
                },
                Work::Image {
                    series: 1,
                    image: 0
                },
                Work::Image {
                    series: 0,
                    image: 9
                },
                Work::Image {
                    series: 0,
                    image: 11
                },
                Work::Image {
                    series: 0,
                    image: 8
                },
                Work::Image {
                    series: 0,
                    image: 12
                },
            ]
        );
    }

    #[test]
    fn moving_the_view_cancels_far_requests_and_reranks() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 4,
            ..Policy::default()
        });
        s.add_series();
        run_metadata(&mut s, &[200]);
        s.set_focus(0, 10);
        let first = s.next(0.0);
        assert!(first.contains(&Work::Image {
            series: 0,
            image: 10
        }));
        let cancel = s.set_focus(0, 150);
        assert!(
            cancel.contains(&Work::Image {
                series: 0,
                image: 10
            }) || cancel.contains(&Work::Image {
                series: 0,
                image: 11
            }),
            "{cancel:?}"
        );
        for w in cancel {
            s.complete(w, Outcome::Cancelled, 1.0);
        }
        let next = s.next(1.0);
        assert_eq!(
            next[0],
            Work::Image {
                series: 0,
                image: 150
            }
        );
    }

    #[test]
    fn transient_failures_back_off_then_fail_permanent_ones_mark_only_their_slot() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 2,
            max_attempts: 3,
            backoff_ms: 100.0,
            ..Policy::default()
        });
        s.add_series();
        run_metadata(&mut s, &[3]);
        s.set_focus(0, 1);
        let w = s.next(0.0);
        assert_eq!(
            w[0],
            Work::Image {
                series: 0,
                image: 1
            }
        );
        s.complete(
            w[0],
            Outcome::Transient {
                retry_after_ms: None,
            },
            0.0,
        );
        s.complete(w[1], Outcome::Permanent("404 Not Found".into()), 0.0);
        assert_eq!(s.slot(0, 0), Some(&Slot::Failed("404 Not Found".into())));
        let during = s.next(50.0);
        assert!(
            !during.contains(&Work::Image {
                series: 0,
                image: 1
            }),
            "still backing off"
        );
        for w in during {
            s.complete(w, Outcome::Decoded { bytes: 1 }, 50.0);
        }
        let again = s.next(100.0);
        assert!(again.contains(&Work::Image {
            series: 0,
            image: 1
        }));
        s.complete(
            Work::Image {
                series: 0,
                image: 1,
            },
            Outcome::Transient {
                retry_after_ms: Some(1000.0),
            },
            100.0,
        );
        assert!(matches!(s.slot(0, 1), Some(Slot::Backoff { at_ms, .. }) if *at_ms == 1100.0));
        s.next(1100.0);
        s.complete(
            Work::Image {
                series: 0,
                image: 1,
            },
            Outcome::Transient {
                retry_after_ms: None,
            },
            1100.0,
        );
        assert!(matches!(s.slot(0, 1), Some(Slot::Failed(_))));
    }

    #[test]
    fn metadata_retries_are_counted_across_backoffs() {
        let mut s = Scheduler::new(Policy {
            max_attempts: 3,
            backoff_ms: 10.0,
            ..Policy::default()
        });
        s.add_series();
        for t in [0.0, 100.0, 200.0] {
            let w = s.next(t);
            assert_eq!(w, vec![Work::SeriesMetadata { series: 0 }]);
            s.complete(
                w[0],
                Outcome::Transient {
                    retry_after_ms: Some(f64::INFINITY),
                },
                t,
            );
        }
        assert!(s.next(1e9).is_empty(), "metadata gave up after 3 attempts");
    }

    #[test]
    fn the_budget_is_never_exceeded_and_the_farthest_go_first() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 1,
            budget_bytes: 5_000,
            ..Policy::default()
        });
        s.add_series();
        run_metadata(&mut s, &[50]);
        s.set_focus(0, 25);
        let mut evicted_all = Vec::new();
        for t in 0..40 {
            let Some(&w) = s.next(t as f64).first() else {
                break;
            };
            evicted_all.extend(s.complete(w, Outcome::Decoded { bytes: 1_000 }, t as f64));
            assert!(s.resident_bytes() <= 5_000);
        }
        // The view and its nearest neighbours stay.
        assert!(matches!(s.slot(0, 25), Some(Slot::Resident { .. })));
        assert!(matches!(s.slot(0, 24), Some(Slot::Resident { .. })));
        assert!(matches!(s.slot(0, 26), Some(Slot::Resident { .. })));
        assert_eq!(s.resident_bytes(), 5_000);
        // Scrolling away makes the old neighbourhood the first to go.
        s.set_focus(0, 45);
        let w = s.next(100.0);
        assert_eq!(
            w,
            vec![Work::Image {
                series: 0,
                image: 45
            }]
        );
        let evicted = s.complete(w[0], Outcome::Decoded { bytes: 1_000 }, 100.0);
        assert_eq!(evicted.len(), 1);
        assert!(s.resident_bytes() <= 5_000);
    }

    /// The viewer's case end to end: a jump to the middle of a series asks for that
    /// image, then its neighbours outward in both directions; scrolling through a
    /// series five times larger than the budget keeps the budget at every step and
    /// always has the image in view first.
    #[test]
    fn a_jump_loads_outward_and_scrolling_a_series_larger_than_the_budget_holds_it() {
        let frame = 512 * 512 * 2;
        let mut s = Scheduler::new(Policy {
            max_in_flight: 6,
            budget_bytes: 20 * frame,
            ..Policy::default()
        });
        let series = s.add_known_series(100);
        s.set_focus(series, 50);
        let first: Vec<usize> = s
            .next(0.0)
            .into_iter()
            .map(|w| match w {
                Work::Image { image, .. } => image,
                w => panic!("{w:?}"),
            })
            .collect();
        // The view, then outward: ±1 before ±2, both sides (the series' first image
        // for its thumbnail may come right after the view).
        assert_eq!(first[0], 50, "{first:?}");
        let rest: Vec<usize> = first[1..].iter().copied().filter(|&i| i != 0).collect();
        let distance: Vec<usize> = rest.iter().map(|&i| i.abs_diff(50)).collect();
        assert!(distance.windows(2).all(|d| d[0] <= d[1]), "{first:?}");
        assert!(rest.contains(&49) && rest.contains(&51), "{first:?}");
        for &i in &first {
            s.complete(
                Work::Image { series, image: i },
                Outcome::Decoded { bytes: frame },
                1.0,
            );
        }
        // Scroll 50 → 99 → 0, one image per step, four requests completing per step.
        let mut now = 2.0;
        for view in (50..100).chain((0..100).rev()) {
            for w in s.set_focus(series, view) {
                s.complete(w, Outcome::Cancelled, now);
            }
            let work = s.next(now);
            if !matches!(s.slot(series, view), Some(Slot::Resident { .. })) {
                assert_eq!(
                    work.first(),
                    Some(&Work::Image {
                        series,
                        image: view
                    }),
                    "view {view}"
                );
            }
            for w in work.into_iter().take(4) {
                s.complete(w, Outcome::Decoded { bytes: frame }, now);
                assert!(s.resident_bytes() <= 20 * frame, "view {view}: over budget");
            }
            // Whatever was not completed goes back (the next step re-ranks it).
            let in_flight: Vec<Work> = s.in_flight.keys().copied().collect();
            for w in in_flight {
                s.complete(w, Outcome::Cancelled, now);
            }
            assert!(
                matches!(s.slot(series, view), Some(Slot::Resident { .. })),
                "view {view} not resident"
            );
            now += 1.0;
        }
    }

    #[test]
    fn concurrency_halves_on_transient_failures_and_grows_back_to_the_ceiling() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 6,
            backoff_ms: 1e9,
            ..Policy::default()
        });
        let series = s.add_known_series(200);
        s.set_focus(series, 0);
        let first = s.next(0.0);
        assert_eq!(first.len(), 6);
        // Two 503s: 6 → 3 → 1.5, so one request at a time once the others finish.
        for w in &first[..2] {
            s.complete(
                *w,
                Outcome::Transient {
                    retry_after_ms: None,
                },
                0.0,
            );
        }
        assert_eq!(s.window(), 1);
        assert!(s.next(0.0).is_empty(), "four still in flight, window 1");
        for w in &first[2..] {
            s.complete(*w, Outcome::Decoded { bytes: 1 }, 0.0);
        }
        // 1.5 + 1/1.5 + … after four successes: 3.
        assert_eq!(s.window(), 3);
        assert_eq!(s.next(0.0).len(), 3);
        // A long run of successes climbs back to the ceiling and no further.
        for t in 1..100 {
            let in_flight: Vec<Work> = s.in_flight.keys().copied().collect();
            for w in in_flight {
                s.complete(w, Outcome::Decoded { bytes: 1 }, t as f64);
            }
            assert!(s.next(t as f64).len() <= 6);
        }
        assert_eq!(s.window(), 6);
        // The shell says HTTP/2: a higher ceiling.
        s.set_max_in_flight(16);
        assert_eq!(s.window(), 16);
    }

    #[test]
    fn a_reservation_for_the_volume_evicts_frames_and_counts_against_the_budget() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 1,
            budget_bytes: 10_000,
            ..Policy::default()
        });
        let series = s.add_known_series(20);
        s.set_focus(series, 10);
        for t in 0..10 {
            let w = s.next(t as f64);
            s.complete(w[0], Outcome::Decoded { bytes: 1_000 }, t as f64);
        }
        assert_eq!(s.resident_bytes(), 10_000);
        // A volume that leaves no room for the image in view is refused.
        assert!(s.reserve(9_500).is_err());
        assert_eq!(s.reserved_bytes(), 0);
        // 4 000 bytes for the volume: the 4 farthest frames go.
        let evicted = s.reserve(4_000).unwrap();
        assert_eq!(evicted.len(), 4);
        assert!(s.resident_bytes() + s.reserved_bytes() <= 10_000);
        assert!(matches!(s.slot(series, 10), Some(Slot::Resident { .. })));
        // Scrolling on keeps frames + volume within the budget.
        for (t, view) in (11..20).enumerate() {
            for w in s.set_focus(series, view) {
                s.complete(w, Outcome::Cancelled, t as f64);
            }
            for w in s.next(100.0 + t as f64) {
                s.complete(w, Outcome::Decoded { bytes: 1_000 }, 100.0 + t as f64);
                assert!(s.resident_bytes() + s.reserved_bytes() <= 10_000);
            }
        }
        // The volume dropped: its bytes are free for frames again.
        assert!(s.reserve(0).unwrap().is_empty());
        assert_eq!(s.reserved_bytes(), 0);
    }

    #[test]
    fn frames_of_one_instance_share_a_request_and_the_window_counts_requests() {
        let mut s = Scheduler::new(Policy {
            max_in_flight: 2,
            ..Policy::default()
        });
        // Series 0: one 30-frame instance; series 1: 5 single-frame instances.
        let cine = s.add_known_series(30);
        let stack = s.add_known_series(5);
        s.set_focus(cine, 10);
        // Every frame of the cine is one instance; the stack's are one each.
        let same = |w: &Work| match w {
            Work::Image { series, .. } if *series == cine => Some(0),
            _ => None,
        };
        let batches = s.next_batched(0.0, 8, same);
        assert_eq!(batches.len(), 2, "{batches:?}");
        assert_eq!(s.requests_in_flight(), 2);
        assert_eq!(s.in_flight(), 9);
        let images = |b: &[Work]| -> Vec<usize> {
            b.iter()
                .map(|w| match w {
                    Work::Image { image, .. } => *image,
                    w => panic!("{w:?}"),
                })
                .collect()
        };
        // The view leads its request, then the thumbnail, then outward.
        assert_eq!(images(&batches[0]), vec![10, 0, 9, 11, 8, 12, 7, 13]);
        // Then the other series' thumbnail, alone (a single-frame instance).
        assert_eq!(
            batches[1],
            vec![Work::Image {
                series: stack,
                image: 0
            }]
        );
        // No room until a whole request is done.
        assert!(s.next_batched(0.0, 8, same).is_empty());
        for w in &batches[0][..7] {
            s.complete(*w, Outcome::Decoded { bytes: 1 }, 0.0);
        }
        assert!(
            s.next_batched(0.0, 8, same).is_empty(),
            "one frame of the first request is still coming"
        );
        s.complete(batches[0][7], Outcome::Decoded { bytes: 1 }, 0.0);
        assert_eq!(s.requests_in_flight(), 1);
        let third = s.next_batched(0.0, 8, same);
        assert_eq!(third.len(), 1);
        assert_eq!(images(&third[0]), vec![6, 14, 5, 15, 4, 16, 3, 17]);
        // A frame list that fails (503) halves the window once, not once per frame.
        for w in &third[0] {
            s.complete(
                *w,
                Outcome::Transient {
                    retry_after_ms: None,
                },
                0.0,
            );
        }
        assert_eq!(s.window(), 1, "2 → 1 for one failed request");
        assert_eq!(s.requests_in_flight(), 1);
        // Single-frame instances never share a request.
        s.set_focus(stack, 2);
        for w in s.in_flight.keys().copied().collect::<Vec<_>>() {
            s.complete(w, Outcome::Cancelled, 1.0);
        }
        let singles = s.next_batched(1.0, 8, same);
        assert!(singles.iter().all(|b| b.len() == 1), "{singles:?}");
    }
}
