//! Placeholder, replaced by the zone-sync benchmark.
fn main() {}
