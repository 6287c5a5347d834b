//! The glue's helpers: the thin layer between the pure core and the Cloudflare runtime that
//! every Durable Object and route uses. `clock` (the one `now_ms()`), `http` (JSON answers,
//! bounded bodies), `internal_query` (a request's query; reading an internal request as its
//! object's typed request), `internal_error` (the internal wire's one error story),
//! `config_env` (the apps from the environment), `subrequest` (the requests the service sends
//! itself and webhook receivers), `sql` (SQLite values in and out).

pub mod clock;
pub mod config_env;
pub mod http;
pub mod internal_error;
pub mod internal_query;
pub mod objects;
pub mod rate_limit;
pub mod sql;
pub mod subrequest;
