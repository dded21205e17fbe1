//! callsync: the system of record for lenders' customers and the compliant call schedules
//! that AI voice agents work through.
//!
//! - [`domain`]: pure rules, no I/O and no clock: validation, locations and zones, the one
//!   contact policy, the schedule builder, the call state machine.
//! - [`app`]: the use-cases; each owns its transaction, loads what the policy needs, asks it,
//!   writes. Every door calls these.
//! - [`store`]: Postgres through Diesel: rows and queries, the only place SQL lives.
//! - [`graphql`], [`rest`], [`http`]: the doors (parse, call a use-case, map the result).
//! - [`events`], [`dialer`]: the event hub and outbox delivery, background work.
//! - [`clock`]: the one "now"; [`cli`], [`config`], [`pg_cluster`]: running it.
//! - [`net`], [`lms`], [`secrets`]: outbound requests on a tenant's behalf and the secrets they use.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dialer;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod lms;
pub mod metrics;
pub mod net;
pub mod pg_cluster;
pub mod rest;
pub mod secrets;
pub mod store;
