//! Integration tests of the stream engine: one binary, one module per area.

mod util;

mod checkpoints;
mod seeds;
mod watermarks;
mod windows;
