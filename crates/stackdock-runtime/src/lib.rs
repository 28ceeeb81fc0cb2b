#![doc = include_str!("../README.md")]

pub mod audit;
pub mod blueprint;
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

pub use engine::{
    ApplyOptions, Executed, OnFailure, RunReport, RunRequest, Runtime, ScopeStatus, StepFailure,
    StepStatus, SyncReport,
};
pub use error::{Error, Result};
