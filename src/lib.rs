pub mod backtest;
pub mod config;
pub mod domain;
pub mod plan;
pub mod predict;
