//! StackDock provider crate for vercel (being written).
