pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod import;
pub mod plan;
pub mod predict;
pub mod store;
