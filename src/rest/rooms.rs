//! Requests from the REST API to channel rooms.

use crate::room::contract::{self, channel_room, param};
use crate::subrequest::request;
use worker::{Env, Method, Response, Result};

/// One request to a channel's room.
pub struct RoomCall<'a> {
    pub channel: &'a str,
    pub path: &'a str,
    pub method: Method,
    /// This request is the one that counts the REST call in the ledger (a call that touches
    /// several rooms marks only one).
    pub rest_call: bool,
    pub query: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

pub async fn fetch(env: &Env, app_id: &str, call: RoomCall<'_>) -> Result<Response> {
    let RoomCall {
        channel,
        path,
        method,
        rest_call,
        query,
        body,
    } = call;
    let stub = channel_room(env, app_id, channel, None)?;
    let mut pairs = vec![(param::APP, app_id), (param::CHANNEL, channel)];
    if rest_call {
        pairs.push((param::REST_CALL, "1"));
    }
    pairs.extend_from_slice(query);
    let url = contract::url(path, &pairs);
    stub.fetch_with_request(request(&url, method, None, body)?)
        .await
}
