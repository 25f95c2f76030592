//! Video jobs shared by every core: created with their timing fixed, so a job's status and
//! progress are a function of elapsed time (`queued` for the first tenth, `in_progress`, then
//! `completed`). Bounded: the oldest jobs are dropped beyond the cap.

use std::time::{Duration, Instant};

use crate::state::store::{Limits, Object, Store};

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

impl Object for VideoJob {
    const KIND: &'static str = "Video";
    fn id(&self) -> &str {
        &self.id
    }
}

/// The jobs, by id and in creation order; the oldest dropped beyond [`MAX_JOBS`].
pub type VideoStore = Store<VideoJob>;

/// An empty job store.
pub fn store() -> VideoStore {
    Store::new(Limits::rolling(MAX_JOBS))
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
}
