//! callsync: the system of record for lenders' customers and the compliant call schedules
//! that AI voice agents work through.
//!
//! - [`domain`]: pure rules (validation, schedules), no I/O.
//! - [`store`]: Postgres through Diesel, the only place SQL lives.
//! - [`graphql`]: the API schema, thin resolvers over domain and store.
//! - [`http`], [`cli`], [`config`]: the edges.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dialer;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod lms;
pub mod metrics;
pub mod net;
pub mod pg_cluster;
pub mod rest;
pub mod store;
