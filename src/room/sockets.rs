//! What both room objects do with their hibernatable sockets: read the member records back
//! from the attachments after a wake, and find one socket again when it closes.

use super::contract::Member;
use worker::{State, WebSocket};

/// The member record in a socket's attachment.
pub fn member_of(ws: &WebSocket) -> Option<Member> {
    ws.deserialize_attachment::<Member>().ok().flatten()
}

/// Every accepted socket with its member record (after a wake, the in-memory list is gone).
pub fn load(state: &State) -> Vec<(Member, WebSocket)> {
    state
        .get_websockets()
        .into_iter()
        .filter_map(|ws| Some((member_of(&ws)?, ws)))
        .collect()
}

/// Removes `ws` from `list` and returns its member record. Matches by identity, or by the
/// member record when the runtime hands over a different wrapper object for the same socket.
pub fn remove(list: &mut Vec<(Member, WebSocket)>, ws: &WebSocket) -> Option<Member> {
    let ws_member = member_of(ws);
    let index = list
        .iter()
        .position(|(m, s)| is_same(m, s, ws, &ws_member))?;
    Some(list.remove(index).0)
}

/// Removes the socket of session socket `socket_id` from `list`, if one is listed (a session
/// holds one socket per room).
pub fn remove_socket_of(list: &mut Vec<(Member, WebSocket)>, socket_id: &str) -> Option<WebSocket> {
    let index = list.iter().position(|(m, _)| m.socket_id == socket_id)?;
    Some(list.remove(index).1)
}

/// Whether a listed socket (`member`, `listed`) is `ws`, whose record is `ws_member`.
pub fn is_same(
    member: &Member,
    listed: &WebSocket,
    ws: &WebSocket,
    ws_member: &Option<Member>,
) -> bool {
    listed == ws || ws_member.as_ref().is_some_and(|m| m.same_socket(member))
}
