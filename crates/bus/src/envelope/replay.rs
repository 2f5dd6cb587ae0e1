//! Replay protection of one subscription. NATS delivers one connection's messages to a
//! subscriber in the order they were published, and a node's message ids rise in that
//! order (its publishes are sealed and queued one at a time), so a message is new exactly
//! when its counter is above the highest seen from the same sender and start-up. Memory
//! is a few words per sender start-up within the age window, however many messages flow.

use std::collections::BTreeMap;

use super::MessageId;

/// Start-ups remembered per sender: a node restarting more often than this within the
/// age window has its oldest start-up forgotten (its messages still face the timestamp
/// check, and consensus its content freshness).
const BOOTS_PER_SENDER: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Boot {
    prefix: u64,
    highest: u64,
    last_ts: u64,
}

/// The highest message id seen per sender and start-up, for one subscription.
#[derive(Debug, Default)]
pub struct Replay {
    senders: BTreeMap<String, Vec<Boot>>,
}

impl Replay {
    /// True when `id` from `sender` was not seen yet (nor anything after it).
    pub fn is_new(&self, sender: &str, id: MessageId) -> bool {
        self.senders.get(sender).is_none_or(|boots| {
            boots
                .iter()
                .find(|boot| boot.prefix == id.boot())
                .is_none_or(|boot| id.counter() > boot.highest)
        })
    }

    /// Records `id`, sealed at `ts`; forgets start-ups last heard before `oldest`.
    pub fn record(&mut self, sender: &str, id: MessageId, ts: u64, oldest: u64) {
        let boots = match self.senders.get_mut(sender) {
            Some(boots) => boots,
            None => self.senders.entry(sender.to_owned()).or_default(),
        };
        boots.retain(|boot| boot.last_ts >= oldest || boot.prefix == id.boot());
        match boots.iter_mut().find(|boot| boot.prefix == id.boot()) {
            Some(boot) => {
                boot.highest = boot.highest.max(id.counter());
                boot.last_ts = boot.last_ts.max(ts);
            }
            None => {
                if boots.len() >= BOOTS_PER_SENDER
                    && let Some(oldest) = boots
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, boot)| boot.last_ts)
                        .map(|(index, _)| index)
                {
                    boots.swap_remove(oldest);
                }
                boots.push(Boot {
                    prefix: id.boot(),
                    highest: id.counter(),
                    last_ts: ts,
                });
            }
        }
    }

    /// Senders and start-ups remembered (for the bounds test).
    pub fn len(&self) -> usize {
        self.senders.values().map(Vec::len).sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }
}
