//! Simulation: how long the output is and when each token is due, and the fake GPUs. Pure and
//! runtime-free.

pub mod engine;
pub mod gpu;
pub mod kv;
mod latency;
mod length;
pub mod model_profile;
mod profiles;
mod schedule;

pub use latency::Latency;
pub use length::LengthDist;
pub use profiles::{Profile, profile_for};
pub use schedule::Schedule;
