//! StackDock provider crate for gridpane (being written).
