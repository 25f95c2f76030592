//! Settings that change while the server runs (`PATCH /admin/config`): each is read once per
//! request, as a shared snapshot, so a request keeps the settings it was admitted with.

use std::sync::{Arc, RwLock};

/// A value replaced whole at runtime; readers hold the snapshot they took.
#[derive(Debug)]
pub struct Live<T>(RwLock<Arc<T>>);

impl<T> Live<T> {
    /// `value`, to begin with.
    pub fn new(value: T) -> Live<T> {
        Live(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value, for readers from now on.
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}
