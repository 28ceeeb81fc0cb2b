//! StackDock provider crate for postgres (being written).
