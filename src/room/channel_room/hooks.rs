//! The channel room's side of webhooks: which events to queue, the grace period for
//! departures, reconciling after a restart, and delivery from the alarm (the outbox itself is
//! `crate::room::webhook_outbox`).

use super::state::MissWebhook;
use super::{ChannelRoom, IDENTITY_KEY, MISS_HOOKED_KEY};
use crate::apps::lookup::app_by_id;
use crate::config::App;
use crate::glue::clock::now_ms;
use crate::ledger::console;
use crate::ledger::reporter::Reporter;
use crate::ledger::webhook_log::{self, Logged};
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::webhook::WebhookEvent;
use crate::room::roster::Roster;
use crate::room::webhook_outbox::{
    departure_of, member_subject, Attempt, Outbox, BATCH_WINDOW_MS, CHANNEL_SUBJECT,
};
use std::rc::Rc;
use worker::console_error;

/// Whether the room's app has webhooks, as far as the room can tell.
pub(super) enum HooksApp {
    Hooked(Rc<App>),
    NoHooks,
    /// The app could not be looked up (the registry failed): the room keeps what it queued and
    /// tries again later, rather than taking it for an app without webhooks.
    Unknown,
}

/// How soon a room tries again after its app could not be looked up.
pub(super) const LOOKUP_RETRY_MS: f64 = 5_000.0;

impl ChannelRoom {
    /// The app's settings, if it has webhooks (user channels have none, as on Pusher).
    pub(super) async fn app_with_hooks(&self) -> Option<Rc<App>> {
        match self.hooks_app().await {
            HooksApp::Hooked(app) => Some(app),
            HooksApp::NoHooks | HooksApp::Unknown => None,
        }
    }

    pub(super) async fn hooks_app(&self) -> HooksApp {
        let identity = self.memory.borrow().identity.app_and_channel();
        let Some((app_id, channel)) = identity else {
            return HooksApp::NoHooks;
        };
        if ChannelKind::of(&channel) == ChannelKind::ServerToUser {
            return HooksApp::NoHooks;
        }
        match app_by_id(&self.env, &app_id).await {
            Ok(Some(app)) if !app.webhooks.is_empty() => HooksApp::Hooked(app),
            Ok(_) => HooksApp::NoHooks,
            Err(e) => {
                console_error!("room: could not look the app up: {e}");
                HooksApp::Unknown
            }
        }
    }

    /// The outbox, if the app has webhooks.
    pub(super) async fn outbox_if_hooked(&self) -> Option<Outbox> {
        self.app_with_hooks().await?;
        self.outbox()
    }

    pub(super) fn outbox(&self) -> Option<Outbox> {
        let sql = self.state.storage().sql();
        let mut memory = self.memory.borrow_mut();
        match Outbox::open(sql, memory.hooks.schema_ready()) {
            Ok(outbox) => Some(outbox),
            Err(e) => {
                console_error!("room: webhook outbox unavailable: {e}");
                None
            }
        }
    }

    /// Remembers the room's identity in storage, once, before its first webhook is queued.
    pub(super) async fn save_identity(&self) {
        let identity = {
            let memory = self.memory.borrow();
            if memory.identity.is_saved() {
                return;
            }
            memory.identity.app_and_channel()
        };
        if let Some((app_id, channel)) = identity {
            if self
                .state
                .storage()
                .put(IDENTITY_KEY, (app_id, channel))
                .await
                .is_ok()
            {
                self.memory.borrow_mut().identity.set_saved(true);
            }
        }
    }

    /// Queues a webhook for the app's URLs that want it; sent within the batch window.
    pub(super) async fn hook(&self, event: WebhookEvent) {
        let Some(app) = self.app_with_hooks().await else {
            return;
        };
        let Some(channel) = self.channel_name() else {
            return;
        };
        let Some(outbox) = self.outbox() else { return };
        let now = now_ms();
        match outbox.emit(&app, &channel, &event, now) {
            Ok(queued) => {
                if queued.any {
                    self.save_identity().await;
                    self.arm(now + BATCH_WINDOW_MS).await;
                }
                self.count_failed(queued.dropped, queued.dropped).await;
            }
            Err(e) => console_error!("room: cannot queue webhook: {e}"),
        }
    }

    /// Counts webhooks given up on: `failed` in all, `dropped` of them from a full outbox.
    async fn count_failed(&self, failed: u64, dropped: u64) {
        if failed > 0 {
            self.count(|c| {
                c.webhooks_failed += failed;
                c.webhooks_dropped += dropped;
            })
            .await;
        }
    }

    /// Something arrived (the channel is occupied, a user joined): if its departure is still
    /// waiting out the grace period, that is cancelled and nothing is sent (a reload, a
    /// rejoin after a reset); if receivers still hold it present (an absent member coming
    /// back), nothing is sent either; otherwise its arrival webhook is queued.
    pub(super) async fn hook_arrival(&self, subject: &str, event: WebhookEvent) {
        if self.app_with_hooks().await.is_none() {
            return;
        }
        let Some(outbox) = self.outbox() else { return };
        let known = outbox.cancel(subject).unwrap_or(false)
            || outbox.is_announced(subject).unwrap_or(false);
        if !known {
            self.hook(event).await;
        }
        if let Err(e) = outbox.announce(subject) {
            console_error!("room: webhook state: {e}");
        }
    }

    /// Something left: its departure webhook (`channel_vacated`, `member_removed`) is queued
    /// after the grace period.
    pub(super) async fn hook_departure(&self, subject: &str) {
        self.hook_departure_after(subject, 0.0).await;
    }

    /// A departure webhook queued after `wait_ms`, or the grace period if longer.
    pub(super) async fn hook_departure_after(&self, subject: &str, wait_ms: f64) {
        if self.app_with_hooks().await.is_none() {
            return;
        }
        let Some(channel) = self.channel_name() else {
            return;
        };
        let Some(outbox) = self.outbox() else { return };
        let queued = outbox
            .delay(subject, &channel, &departure_of(subject), now_ms(), wait_ms)
            .and_then(|due| outbox.unannounce(subject).map(|()| due));
        match queued {
            Ok(due) => {
                self.save_identity().await;
                self.arm(due).await;
            }
            Err(e) => console_error!("room: cannot queue webhook: {e}"),
        }
    }

    /// Once per object instance: receivers were told about arrivals that the live sockets no
    /// longer show when the room was restarted and lost its sockets (a deploy), so their
    /// departures are queued now, due when the sessions' rejoin window ends (and cancelled,
    /// as for a reload, by those that come back).
    pub(super) async fn reconcile_hooks(&self) {
        if !self.memory.borrow_mut().hooks.first_reconcile() {
            return;
        }
        if self.app_with_hooks().await.is_none() || self.channel_name().is_none() {
            return;
        }
        let Some(outbox) = self.outbox() else { return };
        let Ok(announced) = outbox.announced() else {
            return;
        };
        let live: Vec<String> = self.with_subscribers(|subs| {
            let mut live: Vec<String> = Roster::from_members(subs.iter().map(|(m, _)| m))
                .user_ids()
                .map(member_subject)
                .collect();
            if !subs.is_empty() {
                live.push(CHANNEL_SUBJECT.to_string());
            }
            live
        });
        // Members first, so member_removed comes before channel_vacated.
        let (mut gone, channel): (Vec<String>, Vec<String>) = announced
            .into_iter()
            .filter(|s| !live.contains(s))
            .partition(|s| s != CHANNEL_SUBJECT);
        gone.extend(channel);
        let wait = self.window_end_ms() - now_ms();
        for subject in gone {
            self.hook_departure_after(&subject, wait).await;
        }
    }

    /// Sends the webhooks that are due; counts those given up on or dropped; sets the next
    /// alarm.
    pub(super) async fn deliver_hooks(&self) {
        let known = {
            let memory = self.memory.borrow();
            memory.identity.app_and_channel().is_some()
        };
        if !known {
            // Woken by the alarm with no sockets: the identity saved with the first webhook.
            let stored: Option<(String, String)> =
                self.state.storage().get(IDENTITY_KEY).await.ok().flatten();
            let Some((app_id, channel)) = stored else {
                return;
            };
            self.learn(Some(&app_id), &channel);
        }
        let app = match self.hooks_app().await {
            HooksApp::Hooked(app) => app,
            HooksApp::NoHooks => return,
            HooksApp::Unknown => {
                // What is queued stays; delivery tries again.
                self.arm(now_ms() + LOOKUP_RETRY_MS).await;
                return;
            }
        };
        let Some(channel) = self.channel_name() else {
            return;
        };
        self.reconcile_hooks().await;
        let Some(outbox) = self.outbox() else { return };
        match outbox.promote_due(&app, &channel, now_ms()) {
            Ok(dropped) => self.count_failed(dropped, dropped).await,
            Err(e) => console_error!("room: webhook outbox: {e}"),
        }
        match outbox.deliver(&app, &channel, now_ms()).await {
            Ok(outcome) => {
                self.count_failed(outcome.failed, outcome.dropped).await;
                self.log_attempts(&outcome.attempts).await;
                let worth_a_line = !outcome.attempts.is_empty() || outcome.failed > 0;
                let now = match worth_a_line {
                    true => self.console_open().await,
                    false => None,
                };
                if let Some(now) = now {
                    for attempt in outcome.attempts {
                        let (host, names) = (&attempt.host, &attempt.event_names);
                        let line = console::webhook(now, host, names, attempt.delivered);
                        self.console_line(line).await;
                    }
                    if outcome.failed > 0 {
                        let line = console::webhooks_given_up(now, &channel, outcome.failed);
                        self.console_line(line).await;
                    }
                }
            }
            Err(e) => console_error!("room: webhook delivery: {e}"),
        }
        if let Ok(Some(next)) = outbox.next_due(now_ms()) {
            self.arm(next).await;
        }
    }

    /// The requests of a delivery pass, for the app's delivery log (with the next report).
    async fn log_attempts(&self, attempts: &[Attempt]) {
        if attempts.is_empty() {
            return;
        }
        let at_ms = now_ms() as u64;
        for attempt in attempts {
            let logged = Logged {
                at_ms,
                host: &attempt.host,
                event_names: &attempt.event_names,
                status: attempt.status,
                latency_ms: attempt.latency_ms,
                retries_left: attempt.retries_left,
                test: false,
            };
            self.feed().webhook_logged(webhook_log::line(&logged));
        }
        self.schedule_report().await;
    }

    /// Whether this cache miss is the first since the cache emptied (one webhook per miss
    /// streak, however many subscribers find the cache empty). Apps without webhooks keep
    /// no record of it.
    pub(super) async fn first_miss(&self) -> bool {
        if self.app_with_hooks().await.is_none() {
            return false;
        }
        let known = self.memory.borrow().cache.miss();
        let hooked = match known {
            MissWebhook::Sent => true,
            MissWebhook::NotSent => false,
            MissWebhook::Unread => self
                .state
                .storage()
                .get::<bool>(MISS_HOOKED_KEY)
                .await
                .ok()
                .flatten()
                .unwrap_or(false),
        };
        self.memory.borrow_mut().cache.miss_sent();
        if hooked {
            return false;
        }
        let _ = self.state.storage().put(MISS_HOOKED_KEY, true).await;
        true
    }
}

/// The `client_event` webhook of a forwarded client event frame (`data` as a string, as
/// Pusher sends it).
pub(super) fn client_event_hook(frame: &str, socket_id: String) -> Option<WebhookEvent> {
    let value: serde_json::Value = crate::protocol::json_read::from_text(frame).ok()?;
    let event = value.get("event")?.as_str()?.to_string();
    let data = match value.get("data") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let user_id = value
        .get("user_id")
        .and_then(|u| u.as_str())
        .map(String::from);
    Some(WebhookEvent::ClientEvent {
        event,
        data,
        socket_id,
        user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_event_hooks_carry_data_as_a_string() {
        let frame =
            r#"{"event":"client-typing","channel":"presence-a","data":{"a":1},"user_id":"7"}"#;
        assert_eq!(
            client_event_hook(frame, "1.2".into()),
            Some(WebhookEvent::ClientEvent {
                event: "client-typing".into(),
                data: r#"{"a":1}"#.into(),
                socket_id: "1.2".into(),
                user_id: Some("7".into()),
            })
        );
        let frame = r#"{"event":"client-x","channel":"private-a","data":"text"}"#;
        assert_eq!(
            client_event_hook(frame, "1.2".into()),
            Some(WebhookEvent::ClientEvent {
                event: "client-x".into(),
                data: "text".into(),
                socket_id: "1.2".into(),
                user_id: None,
            })
        );
        let no_data = client_event_hook(r#"{"event":"client-x"}"#, "1.2".into());
        assert!(matches!(no_data, Some(WebhookEvent::ClientEvent { data, .. }) if data.is_empty()));
        assert_eq!(client_event_hook(r#"{"data":"x"}"#, "1.2".into()), None);
        assert_eq!(client_event_hook("not json", "1.2".into()), None);
    }
}
