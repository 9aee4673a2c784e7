//! Integration tests of the stream engine: one binary, one module per area.

mod util;

mod checkpoints;
mod columns;
mod robustness;
mod scale_out;
mod seeds;
mod watermarks;
mod windows;
