//! The simulated engine: continuous batching with a waiting queue, a token budget per step,
//! chunked prefill, KV blocks and preemption, and a step-time model. Pure and runtime-free.

pub mod load;
pub mod local;
mod scheduler;
mod step_time;

pub use scheduler::{Config, Due, Engine, Event, Flavour, Phases, Pool, QueueFull, SeqId, SeqKv, SeqSpec, Work};
pub use step_time::StepTime;
