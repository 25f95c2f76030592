//! Video jobs shared by every core: created with their timing fixed, so a job's status and
//! progress are a function of elapsed time (`queued` for the first tenth, `in_progress`, then
//! `completed`). Bounded: the oldest jobs are dropped beyond the cap.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Most jobs kept.
pub const MAX_JOBS: usize = 10_000;

/// One video job.
#[derive(Debug, Clone)]
pub struct VideoJob {
    /// `video_…`.
    pub id: String,
    /// Model as requested.
    pub model: String,
    /// The prompt.
    pub prompt: String,
    /// Duration in seconds (4, 8 or 12).
    pub seconds: u32,
    /// Width and height.
    pub size: (u16, u16),
    /// Unix seconds at creation.
    pub created_at: u64,
    /// When it was created, for progress.
    pub started: Instant,
    /// How long it takes to complete.
    pub total: Duration,
}

/// Where a job is at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// `queued`, `in_progress` or `completed`.
    pub status: &'static str,
    /// 0–100.
    pub percent: u32,
}

impl VideoJob {
    /// The job's state at `now`.
    pub fn progress(&self, now: Instant) -> Progress {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= self.total {
            return Progress { status: "completed", percent: 100 };
        }
        let fraction = elapsed.as_secs_f64() / self.total.as_secs_f64();
        if fraction < 0.1 {
            return Progress { status: "queued", percent: 0 };
        }
        Progress { status: "in_progress", percent: ((fraction * 100.0) as u32).clamp(1, 99) }
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, VideoJob>,
    /// Ids oldest first.
    order: VecDeque<String>,
}

/// The jobs, by id and in creation order.
#[derive(Debug, Default)]
pub struct VideoStore {
    inner: Mutex<Inner>,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    /// The jobs on it.
    pub jobs: Vec<VideoJob>,
    /// More follow.
    pub has_more: bool,
}

impl VideoStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `job`, dropping the oldest beyond [`MAX_JOBS`].
    pub fn insert(&self, job: VideoJob) {
        let mut inner = self.lock();
        while inner.order.len() >= MAX_JOBS {
            let oldest = inner.order.pop_front().expect("non-empty");
            inner.by_id.remove(&oldest);
        }
        inner.order.push_back(job.id.clone());
        inner.by_id.insert(job.id.clone(), job);
    }

    /// The job `id`.
    pub fn get(&self, id: &str) -> Option<VideoJob> {
        self.lock().by_id.get(id).cloned()
    }

    /// Deletes job `id`; false if there is none.
    pub fn delete(&self, id: &str) -> bool {
        let mut inner = self.lock();
        if inner.by_id.remove(id).is_none() {
            return false;
        }
        inner.order.retain(|j| j != id);
        true
    }

    /// Up to `limit` jobs after the job `after` (if given), newest first unless `ascending`.
    pub fn page(&self, limit: usize, after: Option<&str>, ascending: bool) -> Page {
        let inner = self.lock();
        let ids: Box<dyn Iterator<Item = &String>> =
            if ascending { Box::new(inner.order.iter()) } else { Box::new(inner.order.iter().rev()) };
        let mut ids = ids.skip_while(|id| after.is_some_and(|a| a != id.as_str())).skip(usize::from(after.is_some()));
        let jobs: Vec<VideoJob> = ids.by_ref().take(limit).map(|id| inner.by_id[id].clone()).collect();
        Page { jobs, has_more: ids.next().is_some() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, total: Duration) -> VideoJob {
        VideoJob {
            id: id.into(),
            model: "sora-2".into(),
            prompt: "p".into(),
            seconds: 4,
            size: (720, 1280),
            created_at: 0,
            started: Instant::now(),
            total,
        }
    }

    #[test]
    fn progress_by_elapsed_time() {
        let j = job("v", Duration::from_secs(10));
        let at = |s: f64| j.progress(j.started + Duration::from_secs_f64(s));
        assert_eq!(at(0.5), Progress { status: "queued", percent: 0 });
        assert_eq!(at(5.0), Progress { status: "in_progress", percent: 50 });
        assert_eq!(at(9.99), Progress { status: "in_progress", percent: 99 });
        assert_eq!(at(10.0), Progress { status: "completed", percent: 100 });
    }

    #[test]
    fn pages_in_either_order_after_a_cursor() {
        let store = VideoStore::default();
        for id in ["a", "b", "c", "d"] {
            store.insert(job(id, Duration::ZERO));
        }
        let ids = |p: Page| (p.jobs.into_iter().map(|j| j.id).collect::<Vec<_>>(), p.has_more);
        assert_eq!(ids(store.page(2, None, false)), (vec!["d".to_owned(), "c".to_owned()], true));
        assert_eq!(ids(store.page(2, Some("c"), false)), (vec!["b".to_owned(), "a".to_owned()], false));
        assert_eq!(ids(store.page(10, Some("b"), true)), (vec!["c".to_owned(), "d".to_owned()], false));
        assert!(store.delete("c") && !store.delete("c"));
        assert_eq!(ids(store.page(10, None, true)).0, ["a", "b", "d"]);
    }
}
