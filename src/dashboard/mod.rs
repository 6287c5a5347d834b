//! `/dashboard`: the operators' page, served by the Worker itself, behind a login with the
//! deployment's `DASHBOARD_TOKEN` (or `METRICS_TOKEN`). Off (404) when neither is set.
//!
//! `login` (the session cookie, pure), `operator_request` (REST calls signed for the
//! operator, pure; the router hands them to the REST API), `api` (the JSON and console
//! endpoints). The page itself is `assets/dashboard/`: two HTML files and one script, no
//! framework and no build step.

mod api;
mod login;
mod operator_request;

use crate::config::Apps;
use crate::glue::clock::now_secs;
use crate::glue::http::{bounded_body, RestResult};
use crate::glue::subrequest::request;
use crate::protocol::rest_error::RestError;
use login::{
    clear_cookie, cookie_value, dashboard_token, form_has_token, is_live_session, same_origin,
    session_value, set_cookie,
};
use worker::{Env, Method, Request, Response};

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

/// What the dashboard answers: a response, or a REST call it signed for the operator, which
/// the router hands to the REST API like any other.
pub enum Answer {
    Done(Response),
    Rest(Request),
}

pub type AnswerResult = Result<Answer, RestError>;

pub async fn handle(req: Request, env: &Env, apps: &Apps) -> AnswerResult {
    let secret = |name: &str| env.var(name).ok().map(|v| v.to_string());
    let Some(token) = dashboard_token(secret("DASHBOARD_TOKEN"), secret("METRICS_TOKEN")) else {
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
            return Err(RestError::new(
                403,
                "Cross-origin dashboard requests are refused",
            ));
        }
    }
    let logged_in = req
        .headers()
        .get("Cookie")?
        .as_deref()
        .and_then(cookie_value)
        .is_some_and(|value| is_live_session(&token, value, now_secs()));
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
            let response = see_dashboard()?;
            response
                .headers()
                .set("Set-Cookie", &clear_cookie(secure))?;
            Ok(response)
        }
        (_, api) if api.starts_with("/dashboard/api/") => {
            if !logged_in {
                return Err(RestError::unauthorized("Log in at /dashboard first"));
            }
            let endpoint = api
                .strip_prefix("/dashboard/api/")
                .unwrap_or_default()
                .to_string();
            return api::handle(req, env, apps, &endpoint).await;
        }
        (method, path) => Err(match allowed_methods(path) {
            Some(allow) => RestError::method_not_allowed(method.as_ref(), path, allow),
            None => RestError::not_found(format!("No route for {path}")),
        }),
    }?;
    for (name, value) in SECURITY_HEADERS {
        answer.headers().set(name, value)?;
    }
    Ok(Answer::Done(answer))
}

/// The methods a dashboard path takes (for `Allow`), or `None` for none.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/dashboard" | "/dashboard/" | SCRIPT => Some("GET, HEAD"),
        "/dashboard/login" | "/dashboard/logout" => Some("POST"),
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
async fn login(req: Request, env: &Env, token: &str, secure: bool) -> RestResult {
    let form = bounded_body(req, MAX_LOGIN_BODY).await?;
    if !form_has_token(&form, token) {
        let form = asset(env, LOGIN).await?;
        let refused = form.replace("<p id=\"refused\" hidden>", "<p id=\"refused\">");
        return page(&refused, HTML, 401);
    }
    let response = see_dashboard()?;
    response.headers().set(
        "Set-Cookie",
        &set_cookie(&session_value(token, now_secs()), secure),
    )?;
    Ok(response)
}
