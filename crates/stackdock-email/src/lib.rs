//! StackDock provider crate for email (being written).
