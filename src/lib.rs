//! orgsync: keeps a target app's users and org chart in step with an IM platform's directory.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view. The binary in `main.rs` is a thin shell over this
//! library.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod events;
pub mod hex;
pub mod history;
pub mod http_client;
pub mod mapping;
pub mod model;
pub mod notify;
pub mod plan;
pub mod pullers;
pub mod pushers;
pub mod report;
pub mod snapshot;
pub mod state;
pub mod terminal;
