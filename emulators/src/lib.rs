//! In-process emulators of the upstream IM platforms' contact APIs, of a SCIM 2.0 target and of a
//! webhook receiver that checks orgsync's signed deliveries.
//!
//! Used by orgsync's tests, benches and `orgsync demo`. Every emulator binds `127.0.0.1:0`, serves
//! from an [`fixture::Org`] (upstreams) or its own state (targets), counts calls per endpoint, and
//! injects faults on demand. See `emulators/README.md` for the fixture format.

pub mod bitrix24;
pub mod changes;
mod delivery_log;
pub mod dingtalk;
pub mod faults;
pub mod feishu;
pub mod fixture;
pub mod generator;
pub mod rate_limit;
pub mod robots;
pub mod scim;
mod server;
pub mod webhook;
pub mod wecom;
