//! Shared HTTP layer (being written).
