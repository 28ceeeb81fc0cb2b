//! StackDock provider crate for dns (being written).
