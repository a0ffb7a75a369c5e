//! Black-box tests of the `touchpoint` binary: one test binary, run with
//! `cargo test`. PostgreSQL variants run when TOUCHPOINT_TEST_POSTGRES_URL is set.

mod backtest;
mod calls;
mod commands;
mod contracts;
mod crash;
mod dispatch;
mod helpers;
mod http;
mod import;
mod planning;
mod simulate;
mod sms;
mod smtp;
mod support;
