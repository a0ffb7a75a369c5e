//! Black-box tests of the `touchpoint` binary: one test binary, run with
//! `cargo test`. PostgreSQL variants run when TOUCHPOINT_TEST_POSTGRES_URL is set.

mod api;
mod approval;
mod backtest;
mod browser;
mod calls;
mod commands;
mod contracts;
mod crash;
mod digest;
mod dispatch;
mod environment;
mod equivalence;
mod faults;
mod helpers;
mod http;
mod import;
mod logs;
mod operator;
mod overlap;
mod people;
mod planning;
mod scaleout;
mod simulate;
mod site;
mod sms;
mod smtp;
mod smtp_server;
mod support;
mod systemd;
mod watch;
