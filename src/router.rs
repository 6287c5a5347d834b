//! The Worker's front door: routes each request to a client connection, the REST API, the
//! metrics, the operators' dashboard or an info page. It is the top layer: everything else is below it.

use crate::admin;
use crate::dashboard::{self, Answer};
use crate::edge::connect::client_connection;
use crate::glue::config_env::load_apps;
use crate::glue::http::{json_response, respond, RestResult};
use crate::glue::internal_error::InternalError;
use crate::metrics;
use crate::protocol::close_codes;
use crate::protocol::json_writer::JsonObject;
use crate::protocol::rest_error::RestError;
use crate::rest;
use worker::{console_error, Context, Env, Request, Response, Result};

/// The methods the Worker routes. workers-rs reads a method it does not know (PROPFIND,
/// PURGE, ...) as GET, so the raw method is checked before routing.
const ROUTED_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

pub async fn route(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    let response = respond(dispatch(req, env, &ctx).await)?;
    if is_dashboard(&path) {
        // Its API's answers too (its own, the REST calls it signs, its refusals).
        dashboard::never_cached(&response);
    }
    Ok(response)
}

fn is_dashboard(path: &str) -> bool {
    path == "/dashboard" || path.starts_with("/dashboard/")
}

async fn dispatch(mut req: Request, env: Env, ctx: &Context) -> RestResult {
    let mut path = req.path();
    let method = req.inner().method();
    if !ROUTED_METHODS.contains(&method.as_str()) {
        return other_method(&method, &path);
    }
    if path == "/" {
        return Ok(json_response(200, &service_info())?);
    }
    if path == "/up" {
        // Health check: the Worker runs. (It does not read the configuration, so a load
        // balancer keeps routing while an operator fixes a bad PUSHER_APPS.)
        return Ok(json_response(200, r#"{"status":"ok"}"#)?);
    }
    // A bad PUSHER_APPS fails every other route loudly (500 naming the problem).
    load_apps(&env).map_err(|e| {
        console_error!("{e}");
        InternalError::Config(e.to_string())
    })?;
    if let Some(key) = path.strip_prefix("/app/") {
        return client_connection(req, env, ctx, key).await;
    }
    if path == admin::route::PREFIX || path.starts_with("/admin/") {
        return admin::handle(req, &env).await;
    }
    if is_dashboard(&path) {
        match dashboard::handle(req, &env).await? {
            Answer::Done(response) => return Ok(response),
            // A REST call the dashboard signed for the operator goes on like any SDK's.
            Answer::Rest(signed) => {
                req = signed;
                path = req.path();
            }
        }
    }
    if path.starts_with("/apps/") || path.starts_with("/users/") {
        return rest::handle(req, &env, ctx).await;
    }
    if path == "/metrics" {
        return metrics::handle(&req, &env).await;
    }
    Err(RestError::not_found(format!("No route for {path}")))
}

/// OPTIONS names the methods a path takes (204 with `Allow`); CONNECT, TRACE and any other
/// method get 405 with the same `Allow`, or 404 on a path the Worker does not serve.
fn other_method(method: &str, path: &str) -> RestResult {
    let allow = allowed_methods(path)
        .ok_or_else(|| RestError::not_found(format!("No route for {path}")))?;
    if method != "OPTIONS" {
        return Err(RestError::method_not_allowed(method, path, allow));
    }
    let response = Response::empty()?.with_status(204);
    response.headers().set("Allow", allow)?;
    Ok(response)
}

/// The methods a path takes (for `Allow`), or `None` for a path the Worker does not serve.
fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/" | "/up" | "/metrics" => Some("GET, HEAD"),
        _ if path.starts_with("/app/") => Some("GET"),
        _ if path.starts_with("/apps/") || path.starts_with("/users/") => {
            rest::allowed_methods(path)
        }
        _ if path.starts_with("/dashboard") => dashboard::allowed_methods(path),
        _ if path.starts_with(admin::route::PREFIX) => admin::route::allowed_methods(path),
        _ => None,
    }
}

/// The service's name, version, commit and protocol (keys in alphabetical order, as ever).
fn service_info() -> String {
    JsonObject::new()
        .string("commit", env!("PUSHER_EDGE_COMMIT"))
        .value("protocol", close_codes::MAX_PROTOCOL)
        .string("service", env!("CARGO_PKG_NAME"))
        .string("version", env!("CARGO_PKG_VERSION"))
        .finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn service_info_is_the_json_it_always_was() {
        let expected = serde_json::json!({
            "service": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "commit": env!("PUSHER_EDGE_COMMIT"),
            "protocol": super::close_codes::MAX_PROTOCOL,
        });
        assert_eq!(super::service_info(), expected.to_string());
    }
}
