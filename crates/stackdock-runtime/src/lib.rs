#![doc = include_str!("../README.md")]

pub mod audit;
pub mod blueprint;
pub mod controller;
pub mod dock_slots;
mod engine;
mod error;
pub mod events;
pub mod model;
pub mod plan;
pub mod rbac;
pub mod store;
#[cfg(feature = "testing")]
pub mod store_conformance;
pub mod vault;
pub mod worker;

pub use engine::{
    ApplyOptions, DeployReport, DeployRequest, Executed, OnFailure, RunReport, RunRequest, Runtime,
    ScopeStatus, StepFailure, StepStatus, SyncReport,
};
pub use error::{Error, Result};

/// A poisoned lock is still consistent here: every critical section leaves
/// its data whole.
pub(crate) fn engine_lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
