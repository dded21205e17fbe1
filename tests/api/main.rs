//! End-to-end tests: the real server over real HTTP on loopback, against real Postgres.

mod bulk;
mod calls;
mod cli;
mod clock;
mod contact_policy;
mod customers;
mod dashboard;
mod docs;
mod export;
mod faults;
mod fuzz;
mod harness;
mod http_surface;
mod jobs;
mod lms;
mod rest;
mod safety;
mod schedules;
mod settings;
mod subscriptions;
mod sync;
mod telemetry;
mod tenancy;
mod vendors;
