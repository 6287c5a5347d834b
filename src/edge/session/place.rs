//! The connection's place in its app's connection ledger: taken (before or after the client
//! is answered), held while the session lives (the shard's socket also brings the app's live
//! changes), taken again quietly after a shard reset, and given back when the session ends.

use super::*;

/// Keeps the connection's place in the ledger: its socket to a connection shard, which also
/// brings the app's live changes. Should the shard end it (its object reset), the place is
/// taken again, quietly, within the rejoin deadline; only if that fails does the client
/// reconnect (4200), so it is counted again.
pub(super) async fn hold_place(session: Shared) {
    let mut tries = 0u32;
    let mut since = None;
    // Not counted yet (an app without `max_connections`): the place is taken now, the client
    // already answered; should it fail, the tries below follow.
    let counted = session.borrow().place.is_some();
    // Each step boxed: this task lives as long as the session, and its state machine would
    // otherwise keep room for the largest step's futures all that time (952 bytes, 64 now).
    if !counted && !matches!(Box::pin(take_place(&session)).await, Taken::Yes) {
        since = Some(now_ms());
    }
    loop {
        let place = session.borrow().place.clone();
        if let Some(place) = place {
            if Box::pin(listen_to_place(&session, &place)).await {
                tries = 0;
                since = None;
            }
        }
        if session.borrow().core.is_closed() {
            return;
        }
        let started = *since.get_or_insert_with(now_ms);
        tries += 1;
        let size = session.borrow().place_shard_size;
        if !Box::pin(retake_place(
            &session,
            tries,
            started,
            rejoin_deadline_ms(size),
        ))
        .await
        {
            break;
        }
    }
    if !session.borrow().core.is_closed() {
        // The shard's new instance must report its true count, even if no one comes back.
        let (env, app_id, shard) = {
            let s = session.borrow();
            (s.env.clone(), s.app_id.clone(), s.place_shard)
        };
        let ever_counted = session.borrow().place.is_some();
        let close = if ever_counted {
            count_subrequest(&session);
            if let Err(e) = Box::pin(wake_shard(&env, &app_id, shard)).await {
                worker::console_warn!("could not wake connection shard {shard}: {e}");
            }
            Command::CloseClient {
                code: close_codes::RECONNECT_IMMEDIATELY,
                reason: "Connection ledger restarted; please reconnect".into(),
            }
        } else {
            // Never counted: pusher-js comes back after a second (41xx), by when the ledger
            // may take it.
            Command::CloseClient {
                code: close_codes::OVER_CAPACITY,
                reason: "Connection ledger unavailable; reconnecting in a moment".into(),
            }
        };
        execute(&session, vec![close]);
    }
}

/// Reads the shard's messages (the app's changes) until its socket ends; true if it was
/// open (so a later loss is a new one).
async fn listen_to_place(session: &Shared, place: &WebSocket) -> bool {
    let Ok(mut events) = place.events() else {
        return false;
    };
    if place.accept().is_err() {
        return false;
    }
    while let Some(event) = events.next().await {
        match event {
            Ok(WebsocketEvent::Message(message)) => {
                if let Some(record) = message.text() {
                    app_changed(session, &record);
                }
            }
            _ => break,
        }
    }
    true
}

/// Takes the connection's place again (after the jitter or back-off of try `tries`); false
/// when it cannot be had before `deadline_ms` from `since_ms` (or the session ended).
async fn retake_place(session: &Shared, tries: u32, since_ms: f64, deadline_ms: f64) -> bool {
    let wait = {
        let mut s = session.borrow_mut();
        let size = s.place_shard_size;
        s.core.place_retry_delay(tries, size)
    };
    Delay::from(Duration::from_millis(u64::from(wait))).await;
    if session.borrow().core.is_closed() || now_ms() - since_ms > deadline_ms {
        return false;
    }
    match take_place(session).await {
        Taken::Yes => true,
        Taken::Ended | Taken::Full => false,
        Taken::Failed => {
            now_ms() - since_ms < deadline_ms
                && Box::pin(retake_place(session, tries + 1, since_ms, deadline_ms)).await
        }
    }
}

/// How taking the connection's place went.
enum Taken {
    Yes,
    /// The session ended meanwhile: the place was given back at once (no phantom count).
    Ended,
    /// The app's connection quota is full: no retry makes room.
    Full,
    Failed,
}

/// Takes the connection's place in the app's connection ledger, now.
async fn take_place(session: &Shared) -> Taken {
    count_subrequest(session);
    let (env, app, socket_id) = {
        let s = session.borrow();
        (
            s.env.clone(),
            s.core.app().clone(),
            s.core.socket_id().to_string(),
        )
    };
    match hold_connection(&env, &app, &socket_id).await {
        Ok(place) => {
            let mut s = session.borrow_mut();
            if s.core.is_closed() {
                give_back(&place.socket);
                return Taken::Ended;
            }
            s.place = Some(place.socket);
            s.place_shard = place.shard;
            if place.size > 0 {
                s.place_shard_size = place.size;
            }
            Taken::Yes
        }
        Err(refused) => {
            worker::console_warn!("could not take the connection's place: {}", refused.message);
            match refused.code {
                close_codes::OVER_CONNECTION_QUOTA => Taken::Full,
                _ => Taken::Failed,
            }
        }
    }
}

pub(super) fn release_place(session: &Shared) {
    if let Some(place) = &session.borrow().place {
        give_back(place);
    }
}

/// Closes a place's socket so the shard hears it at once: a socket never accepted (the session
/// ended before it listened) would close without a word, and stay counted until the invocation
/// ends. (Accepting one already accepted fails, harmlessly.)
fn give_back(place: &WebSocket) {
    let _ = place.accept();
    let _ = place.close(Some(1000), Some("session ended"));
}
