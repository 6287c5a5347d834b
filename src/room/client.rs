//! The one door to the rooms: how the edge session, the REST API, the dashboard and the rooms
//! themselves reach a `ChannelRoom` (or one of its leaves) and a `UserDirectory` shard,
//! through the contract's typed requests only, never the objects' code.

use super::contract::{
    directory_shard_name, leaf_room_name, number_from_header, room_name, DirectoryRequest, Join,
    RoomAddress, RoomCall, RoomRefusal, RoomRequest, CHANNELS_BINDING, DIRECTORY_BINDING,
    EPOCH_HEADER, GO_TO_LEAF_STATUS, LEAF_HEADER, SIZE_HEADER,
};
use super::directory_shards;
use crate::apps::lookup::placement_of;
use crate::glue::objects::placed_stub;
use crate::glue::subrequest::{send, PreparedRequest};
use crate::protocol::wire::InternalRequest;
use worker::{Env, Response, Result, Stub, WebSocket};

/// The host label of the rooms' internal URLs.
const HOST: &str = "room";

/// The stub of a channel's room, or of one leaf of a split channel.
async fn room_stub(env: &Env, to: &RoomAddress) -> Result<Stub> {
    let name = match to.leaf {
        Some(leaf) => leaf_room_name(&to.app_id, &to.channel, leaf),
        None => room_name(&to.app_id, &to.channel),
    };
    placed_stub(
        env,
        CHANNELS_BINDING,
        &name,
        &placement_of(env, &to.app_id).await?,
    )
}

/// The stub of one of an app's user directory shards.
async fn directory_stub(env: &Env, app_id: &str, shard: u32) -> Result<Stub> {
    let name = directory_shard_name(app_id, shard);
    placed_stub(
        env,
        DIRECTORY_BINDING,
        &name,
        &placement_of(env, app_id).await?,
    )
}

/// Sends one call to the room it names; the answer is the room's.
pub async fn call(env: &Env, call: &RoomCall) -> Result<Response> {
    send(&room_stub(env, &call.to).await?, HOST, &call.encode()).await
}

/// `call` made ready to send (and to send again, `PreparedRequest::send`) to its room's stub,
/// its body out of Wasm memory: what a call with a big frame keeps while it is in flight.
pub async fn prepare(env: &Env, call: RoomCall) -> Result<(Stub, PreparedRequest)> {
    let request = PreparedRequest::new(HOST, &call.encode());
    let to = call.to.clone();
    drop(call);
    Ok((room_stub(env, &to).await?, request))
}

/// Wakes a channel's room (it reports its occupancy and reconciles its webhooks on any
/// request) without counting a REST call.
pub async fn wake(env: &Env, app_id: &str, channel: &str) -> Result<()> {
    let info = RoomRequest::Info {
        attrs: Default::default(),
    };
    call(
        env,
        &RoomCall::new(RoomAddress::channel(app_id, channel), info),
    )
    .await
    .map(|_| ())
}

/// Gives a channel's room a debug console's lease: it sends lines until `until_ms`.
pub async fn tell_console(env: &Env, app_id: &str, channel: &str, until_ms: u64) -> Result<()> {
    let lease = RoomRequest::Console { until_ms };
    call(
        env,
        &RoomCall::new(RoomAddress::channel(app_id, channel), lease),
    )
    .await
    .map(|_| ())
}

/// A room's answer to a subscribe: the socket with the room instance's epoch and its
/// subscribers (0: not told), or (a big channel's root) the leaf to go to.
pub enum Joined {
    Socket {
        socket: WebSocket,
        epoch: u64,
        size: u64,
    },
    GoToLeaf(u32),
}

/// The upgrade of a session's join: to the directory shard of a directory channel, else to
/// the channel's room (or the leaf `join.leaf` names).
pub async fn subscribe(env: &Env, join: &Join) -> std::result::Result<Joined, RoomRefusal> {
    let unreachable = RoomRefusal::unreachable;
    let (app_id, channel) = (join.app_id.as_str(), join.channel.as_str());
    let answer = match directory_shards::shard_of_channel(channel) {
        Some(shard) => {
            let stub = directory_stub(env, app_id, shard)
                .await
                .map_err(unreachable)?;
            let sign_in = DirectoryRequest::SignIn(join.clone());
            send(&stub, HOST, &sign_in.encode()).await
        }
        None => call(env, &RoomCall::subscribe(join.clone())).await,
    };
    let mut response = answer.map_err(unreachable)?;
    let status = response.status_code();
    if status == 101 {
        let header = |name| response.headers().get(name).ok().flatten();
        let epoch = number_from_header(header(EPOCH_HEADER).as_deref());
        let size = number_from_header(header(SIZE_HEADER).as_deref());
        return response
            .websocket()
            .map(|socket| Joined::Socket {
                socket,
                epoch,
                size,
            })
            .ok_or_else(|| RoomRefusal::new(status, "the room upgrade carried no WebSocket"));
    }
    if status == GO_TO_LEAF_STATUS {
        let leaf = response.headers().get(LEAF_HEADER).ok().flatten();
        if let Some(leaf) = leaf.and_then(|l| l.parse::<u32>().ok()) {
            return Ok(Joined::GoToLeaf(leaf));
        }
    }
    // The room's refusal (e.g. a full presence channel) says why in its body.
    let why = response.text().await.unwrap_or_default();
    Err(RoomRefusal::new(status, why))
}
