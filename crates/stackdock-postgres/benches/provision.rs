//! Provision benchmark (being written).
fn main() {}
