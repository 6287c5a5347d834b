//! `pusher_internal:subscription_count` and its webhook, throttled: sent at once when the
//! throttle allows, otherwise from the alarm.

use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::protocol::frames;
use crate::protocol::webhook::WebhookEvent;
use crate::room::count_throttle::CountAction;

impl ChannelRoom {
    /// The channel's subscriber count changed.
    pub(super) async fn count_changed(&self, channel: &str) {
        let count = self.subscriber_count();
        let action = self.memory.borrow_mut().counts.on_change(count, now_ms());
        match action {
            CountAction::SendNow => self.send_count(channel, count).await,
            CountAction::SendAt(at_ms) => self.arm(at_ms).await,
            CountAction::Wait => {}
        }
    }

    /// The alarm's part: a throttled count due by `now` goes out; one due later keeps the
    /// alarm set for it.
    pub(super) async fn send_count_if_due(&self, now: f64) {
        let count_due = self.memory.borrow().counts.scheduled_at();
        let Some(at) = count_due else {
            return;
        };
        if at > now {
            self.arm(at).await;
            return;
        }
        let channel = {
            let mut memory = self.memory.borrow_mut();
            memory.counts.on_scheduled_send(now);
            memory.identity.channel().map(str::to_string)
        };
        if let Some(channel) = channel {
            self.send_count(&channel, self.subscriber_count()).await;
        }
    }

    async fn send_count(&self, channel: &str, count: usize) {
        self.broadcast(&frames::subscription_count(channel, count), None);
        let count = count as u64;
        self.hook(WebhookEvent::SubscriptionCount { count }).await;
    }
}
