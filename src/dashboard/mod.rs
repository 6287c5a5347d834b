//! `/dashboard`: the operators' page, served by the Worker itself, behind a login with the
//! deployment's `DASHBOARD_TOKEN` (`METRICS_TOKEN` does not open it). Off (404) when unset.
//!
//! `login` (the session cookie, pure), `operator_sessions` (what a logout revokes, and the
//! consoles it closes), `operator_request` (REST calls signed for the operator, pure; the
//! router hands them to the REST API), `api` (the JSON and console endpoints). The page itself is `assets/dashboard/`: two HTML files and one script, no
//! framework and no build step.

mod api;
mod login;
mod operator_request;
mod operator_sessions;
mod webhooks;

use crate::admin::token::operators_token;
use crate::glue::clock::now_secs;
use crate::glue::http::{bounded_body, drain_small_body, RestResult};
use crate::glue::rate_limit::within_limit;
use crate::glue::subrequest::request;
use crate::ledger::client::close_consoles;
use crate::protocol::rest_error::RestError;
use login::{
    clear_cookie, cookie_value, form_has_token, live_session, same_origin, session_value,
    set_cookie, OperatorSession,
};
use operator_sessions::client as sessions;
use worker::{console_error, Env, Method, Request, Response};

/// The page's files, in the deployment's static assets (`assets/dashboard/`), which the
/// Worker serves only to a logged-in operator (`run_worker_first`), so they cost the Worker's
/// bundle nothing.
const ASSETS_BINDING: &str = "ASSETS";
const PAGE: &str = "/dashboard/page.html";
const SCRIPT: &str = "/dashboard/app.js";
const LOGIN: &str = "/dashboard/login.html";
const HTML: &str = "text/html; charset=utf-8";
/// The login form's largest body.
const MAX_LOGIN_BODY: u64 = 4096;
/// The Rate Limiting binding that bounds login attempts per client address (wrangler.toml).
const LOGIN_LIMITER: &str = "DASHBOARD_LOGINS";

/// Every dashboard answer: not cached, not framed, scripts from the Worker only.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; \
         img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    // Not `no-referrer`: Chromium then sends `Origin: null` with the page's own form posts.
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
];

/// Marks any dashboard answer as never cached nor sniffed (a WebSocket's answer, whose headers
/// are the runtime's, is left as it is).
pub fn never_cached(response: &Response) {
    for (name, value) in [SECURITY_HEADERS[0], SECURITY_HEADERS[4]] {
        let _ = response.headers().set(name, value);
    }
}

/// What the dashboard answers: a response, or a REST call it signed for the operator, which
/// the router hands to the REST API like any other.
pub enum Answer {
    Done(Response),
    Rest(Request),
}

pub type AnswerResult = Result<Answer, RestError>;

pub async fn handle(mut req: Request, env: &Env) -> AnswerResult {
    let secret = env.var("DASHBOARD_TOKEN").ok().map(|v| v.to_string());
    let Some(token) = operators_token(secret) else {
        return Err(RestError::not_found(
            "The dashboard is off: set the DASHBOARD_TOKEN secret (16 characters or more)",
        ));
    };
    let url = req.inner().url();
    let secure = url.starts_with("https:");
    let origin = req.headers().get("Origin")?;
    let path = req.path();
    let method = req.method();
    let reads = matches!(method, Method::Get | Method::Head);
    if !reads || path.ends_with("/console") {
        // A form or socket from another site never acts with the operator's session.
        let host = req.headers().get("Host")?.unwrap_or_default();
        if !same_origin(origin.as_deref(), &host, secure) {
            // A small body is read first, so the caller's keep-alive connection survives.
            drain_small_body(&mut req).await;
            return Err(RestError::new(
                403,
                "Cross-origin dashboard requests are refused",
            ));
        }
    }
    let session = operator_session(&req, env, &token).await?;
    let logged_in = session.is_some();
    let answer = match (method, path.as_str()) {
        (Method::Get | Method::Head, "/dashboard" | "/dashboard/") => {
            let file = if logged_in { PAGE } else { LOGIN };
            page(&asset(env, file).await?, HTML, 200)
        }
        (Method::Get | Method::Head, SCRIPT) => page(
            &asset(env, SCRIPT).await?,
            "text/javascript; charset=utf-8",
            200,
        ),
        (Method::Post, "/dashboard/login") => login(req, env, &token, secure).await,
        (Method::Post, "/dashboard/logout") => {
            if let Some(session) = &session {
                log_out(env, session).await?;
            }
            let response = see_dashboard()?;
            response
                .headers()
                .set("Set-Cookie", &clear_cookie(secure))?;
            Ok(response)
        }
        (_, api) if api.starts_with("/dashboard/api/") => {
            let Some(session) = session else {
                // A small body is read first, so the caller's keep-alive connection survives.
                drain_small_body(&mut req).await;
                return Err(RestError::unauthorized("Log in at /dashboard first"));
            };
            let endpoint = api
                .strip_prefix("/dashboard/api/")
                .unwrap_or_default()
                .to_string();
            return api::handle(req, env, &endpoint, &session).await;
        }
        (method, path) => {
            drain_small_body(&mut req).await;
            Err(match allowed_methods(path) {
                Some(allow) => RestError::method_not_allowed(method.as_ref(), path, allow),
                None => RestError::not_found(format!("No route for {path}")),
            })
        }
    }?;
    for (name, value) in SECURITY_HEADERS {
        answer.headers().set(name, value)?;
    }
    Ok(Answer::Done(answer))
}

/// The operator's session, if the request's cookie holds a live one that was not logged out.
async fn operator_session(
    req: &Request,
    env: &Env,
    token: &str,
) -> Result<Option<OperatorSession>, RestError> {
    let cookie = req.headers().get("Cookie")?;
    let Some(session) = cookie
        .as_deref()
        .and_then(cookie_value)
        .and_then(|value| live_session(token, value, now_secs()))
    else {
        return Ok(None);
    };
    let revoked = sessions::is_revoked(env, &session.nonce).await?;
    Ok((!revoked).then_some(session))
}

/// A logout: the cookie stops working (its nonce is revoked until it would have expired) and
/// the consoles it opened close.
async fn log_out(env: &Env, session: &OperatorSession) -> Result<(), RestError> {
    let apps = sessions::revoke(env, &session.nonce, session.expires_secs).await?;
    for app_id in apps {
        if let Err(e) = close_consoles(env, &app_id, &session.nonce).await {
            console_error!("dashboard: consoles of app {app_id} not closed at logout: {e}");
        }
    }
    Ok(())
}

/// The methods a dashboard path takes (for `Allow`), or `None` for none.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/dashboard" | "/dashboard/" | SCRIPT => Some("GET, HEAD"),
        "/dashboard/login" | "/dashboard/logout" => Some("POST"),
        _ if path.starts_with("/dashboard/api/admin/") => Some("GET, POST, PATCH, DELETE"),
        _ if path.starts_with("/dashboard/api/") => Some("GET, POST"),
        _ => None,
    }
}

/// One of the page's files, from the static assets.
async fn asset(env: &Env, path: &str) -> Result<String, RestError> {
    // Built with `subrequest::request`: `Fetcher::fetch` would bring worker's `RequestInit`
    // conversion (and its `cf` options) into the bundle.
    let request = request(
        &format!("https://assets.local{path}"),
        Method::Get,
        None,
        None,
    )?;
    let mut response = env.assets(ASSETS_BINDING)?.fetch_request(request).await?;
    if response.status_code() != 200 {
        return Err(RestError::internal(
            "a dashboard file is missing from the static assets",
        ));
    }
    Ok(response.text().await?)
}

fn page(body: &str, content_type: &str, status: u16) -> RestResult {
    let response = Response::ok(body)?.with_status(status);
    response.headers().set("Content-Type", content_type)?;
    Ok(response)
}

/// 303 to the dashboard (after a login or logout form).
fn see_dashboard() -> RestResult {
    let response = Response::empty()?.with_status(303);
    response.headers().set("Location", "/dashboard")?;
    Ok(response)
}

/// The login form: the right token sets the session cookie; a wrong one shows the form again
/// with 401.
async fn login(mut req: Request, env: &Env, token: &str, secure: bool) -> RestResult {
    // Every attempt counts, before the token is read: past the limit even the right token is
    // refused, so a guesser learns nothing more.
    if !within_limit(env, LOGIN_LIMITER, &req).await? {
        drain_small_body(&mut req).await;
        return Err(RestError::new(
            429,
            "Too many login attempts from this address: wait a minute",
        ));
    }
    let form = bounded_body(req, MAX_LOGIN_BODY).await?;
    if !form_has_token(&form, token) {
        let form = asset(env, LOGIN).await?;
        let refused = form.replace("<p id=\"refused\" hidden>", "<p id=\"refused\">");
        return page(&refused, HTML, 401);
    }
    let response = see_dashboard()?;
    let nonce = hex_nonce().map_err(|e| RestError::internal(e.to_string()))?;
    response.headers().set(
        "Set-Cookie",
        &set_cookie(&session_value(token, now_secs(), &nonce), secure),
    )?;
    Ok(response)
}

/// 128 random bits in hex: one login's nonce.
fn hex_nonce() -> Result<String, getrandom::Error> {
    Ok(format!(
        "{:016x}{:016x}",
        getrandom::u64()?,
        getrandom::u64()?
    ))
}
