#![doc = include_str!("../README.md")]

pub mod model;
pub mod plan;
pub mod presentation;
pub mod serial;
pub mod zonefile;

pub use model::{RecordSet, RecordSetKey, Zone, ZoneTemplate};
pub use plan::{plan, Change, Ownership, Plan, PlanOptions};
