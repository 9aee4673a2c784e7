//! End-to-end tests of the `sluice` binary: each runs the real executable against a broker
//! started in the test on 127.0.0.1:0, in a fresh working directory with the Kafka variables
//! removed from its environment.

mod cli;
