//! Real broker on 127.0.0.1:0, real sockets.

mod compaction;
mod limits;
mod robustness;
mod versions;
