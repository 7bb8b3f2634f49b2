//! Row builder (being written).
