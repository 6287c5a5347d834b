//! Operator sessions: what a logout revokes (see `dashboard::login`). `contract` (pure),
//! `client` (the one door), `store` (the Durable Object).

pub mod client;
pub mod contract;
mod store;
