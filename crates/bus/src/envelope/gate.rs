//! The gate: seals what this node publishes and admits what it receives. Admission runs
//! the cheap checks first (envelope shape, known sender and key, role, freshness, replay)
//! and the signature last, and records a message id only once its signature verified, so
//! forgeries can neither fill memory nor block real ids. Refusals are counted per subject
//! label and reason, and logged once per claimed sender per minute.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use geodns_consensus::auth::{AuthMode, NodeKey, PublicKey};
use geodns_core::model::NodeRole;

use super::replay::Replay;
use super::rules::{self, Rule, Unsigned};
use super::table::TrustTable;
use super::{Envelope, MessageId, key_id, signed_bytes};
use crate::Clock;
use crate::bus::BusMessage;

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum Refusal {
    /// No envelope, and the mode (or, in compat, the subject) requires one.
    #[error("unsigned")]
    Unsigned,
    /// An envelope that is not well formed, or one without a sender.
    #[error("malformed envelope")]
    Malformed,
    /// The sender is not a trusted node.
    #[error("unknown sender")]
    UnknownSender,
    /// The sender has no key, or signed with another one.
    #[error("unknown key")]
    UnknownKey,
    /// The sender's roles do not allow this subject.
    #[error("role not allowed")]
    WrongRole,
    /// A membership message about another node.
    #[error("not about the sender")]
    NotSelf,
    /// A reply to another request.
    #[error("answers another request")]
    WrongRequest,
    /// Sealed later than now plus the allowed clock skew.
    #[error("from the future")]
    Future,
    /// Sealed longer ago than the maximum age.
    #[error("expired")]
    Expired,
    /// Seen already on this subscription.
    #[error("replayed")]
    Replayed,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

impl Refusal {
    /// Short name for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::Malformed => "malformed",
            Refusal::UnknownSender => "unknown_sender",
            Refusal::UnknownKey => "unknown_key",
            Refusal::WrongRole => "wrong_role",
            Refusal::NotSelf => "not_self",
            Refusal::WrongRequest => "wrong_request",
            Refusal::Future => "future",
            Refusal::Expired => "expired",
            Refusal::Replayed => "replayed",
            Refusal::BadSignature => "bad_signature",
        }
    }
}

/// A sealed message's envelope header and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The [`super::ENVELOPE_HEADER`] value.
    pub header: String,
    /// The message id (a reply to it names it).
    pub id: MessageId,
}

/// Claimed senders whose last refusal time is kept for the once-a-minute log.
const LOGGED_SENDERS: usize = 1024;
/// Refusals of one claimed sender are logged at most this often.
const LOG_EVERY_MS: u64 = 60_000;

/// Seals and admits messages for one node. Shared by its bus handle's clones.
pub struct Gate {
    me: String,
    key: Option<(NodeKey, PublicKey, [u8; 8])>,
    boot: u64,
    counter: AtomicU64,
    table: RwLock<Arc<TrustTable>>,
    order: tokio::sync::Mutex<()>,
    refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    logged: Mutex<HashMap<String, u64>>,
    clock: Clock,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("me", &self.me)
            .field("signs", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// The gate of node `me`, signing with `key` (none: it publishes unsigned), starting
    /// its message ids at the random `boot` prefix, reading the time from `clock`.
    pub fn new(
        (me, key): (&str, Option<NodeKey>),
        table: TrustTable,
        boot: u64,
        clock: Clock,
    ) -> Gate {
        Gate {
            me: me.to_owned(),
            key: key.map(|key| {
                let public = key.public();
                (key, public, key_id(&public))
            }),
            boot,
            counter: AtomicU64::new(0),
            table: RwLock::new(Arc::new(table)),
            order: tokio::sync::Mutex::new(()),
            refused: Mutex::default(),
            logged: Mutex::default(),
            clock,
        }
    }

    /// Now, in unix milliseconds, by the node's clock.
    pub fn now(&self) -> u64 {
        u64::try_from((self.clock)().timestamp_millis()).unwrap_or(0)
    }

    /// Replaces the trust table (a reload).
    pub fn set_table(&self, table: TrustTable) {
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    /// The trust table in force.
    pub fn table(&self) -> Arc<TrustTable> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Held while sealing and queueing one message, so ids leave in the order they rise.
    pub fn order(&self) -> &tokio::sync::Mutex<()> {
        &self.order
    }

    /// Refusals so far, by subject label and reason.
    pub fn refusals(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The envelope of a message this node publishes at `now` (unix ms); `None` without
    /// a key.
    pub fn seal(
        &self,
        (subject, reply): (&str, Option<&str>),
        re: Option<MessageId>,
        payload: &[u8],
        now: u64,
    ) -> Option<Sealed> {
        let (key, _, kid) = self.key.as_ref()?;
        let id = MessageId::of(self.boot, self.counter.fetch_add(1, Ordering::Relaxed) + 1);
        let mut envelope = Envelope {
            kid: *kid,
            ts: now,
            id,
            re,
            signature: [0u8; 64],
        };
        let bytes = signed_bytes((subject, reply), &self.me, &envelope, payload);
        envelope.signature = key.sign_bytes(&bytes);
        Some(Sealed {
            header: envelope.encode(),
            id,
        })
    }

    /// Admits `message` (received at `now`, unix ms) or says why not. `reply_to` is set
    /// when the subscription is a request's inbox: to the request's id, if it was sealed. On admission the message's
    /// `sender` is who it is from (verified when `authenticated`) and `id` its id.
    pub fn admit(
        &self,
        message: &mut BusMessage,
        reply_to: Option<Option<MessageId>>,
        replay: &mut Replay,
        now: u64,
    ) -> Result<(), Refusal> {
        let table = self.table();
        let reply = reply_to.is_some();
        let envelope = message.envelope.as_deref().map(Envelope::decode);
        message.authenticated = false;
        message.id = envelope
            .as_ref()
            .and_then(Option::as_ref)
            .map(|envelope| envelope.id);
        let rule = if reply {
            Rule::Reply
        } else {
            rules::rule(&message.subject)
        };
        if table.mode == AuthMode::Off || rule == Rule::Open || message.status.is_some() {
            return Ok(());
        }
        let claimed = message.sender.clone();
        let verdict = match envelope {
            None => admit_unsigned(&table, message, rule, reply),
            Some(None) => Err(Refusal::Malformed),
            Some(Some(envelope)) => {
                let check = Check {
                    table: &table,
                    rule,
                    expect: reply_to.flatten(),
                    now,
                };
                self.admit_signed(check, message, &envelope, replay)
            }
        };
        if let Err(refusal) = verdict {
            message.sender = None;
            self.count(message, reply, claimed, refusal, now);
        }
        verdict
    }

    fn admit_signed(
        &self,
        check: Check<'_>,
        message: &mut BusMessage,
        envelope: &Envelope,
        replay: &mut Replay,
    ) -> Result<(), Refusal> {
        let sender = message.sender.clone().ok_or(Refusal::Malformed)?;
        let (key, roles) = self.key_of(check.table, &sender)?;
        let (public, kid) = key.ok_or(Refusal::UnknownKey)?;
        if kid != envelope.kid {
            return Err(Refusal::UnknownKey);
        }
        match check.rule {
            Rule::Role(role) if !roles.contains(&role) => return Err(Refusal::WrongRole),
            Rule::Member
                if rules::named(&message.payload, &["sender", "NodeID"]).as_deref()
                    != Some(sender.as_str()) =>
            {
                return Err(Refusal::NotSelf);
            }
            Rule::Reply if envelope.re != check.expect => return Err(Refusal::WrongRequest),
            _ => {}
        }
        let table = check.table;
        if envelope.ts > check.now.saturating_add(table.max_skew_ms) {
            return Err(Refusal::Future);
        }
        if envelope.ts.saturating_add(table.max_age_ms) < check.now {
            return Err(Refusal::Expired);
        }
        if !replay.is_new(&sender, envelope.id) {
            return Err(Refusal::Replayed);
        }
        let reply = message.reply.as_deref();
        let bytes = signed_bytes(
            (&message.subject, reply),
            &sender,
            envelope,
            &message.payload,
        );
        if !public.verifies(&bytes, &envelope.signature) {
            return Err(Refusal::BadSignature);
        }
        let oldest = check
            .now
            .saturating_sub(table.max_age_ms.saturating_add(table.max_skew_ms));
        replay.record(&sender, envelope.id, envelope.ts, oldest);
        message.sender = Some(sender);
        message.authenticated = true;
        Ok(())
    }

    /// The key and roles of `sender`: this node's own key for its own id, else the
    /// trusted node's.
    #[allow(clippy::type_complexity)]
    fn key_of<'a>(
        &'a self,
        table: &'a TrustTable,
        sender: &str,
    ) -> Result<
        (
            Option<(PublicKey, [u8; 8])>,
            &'a std::collections::BTreeSet<NodeRole>,
        ),
        Refusal,
    > {
        if sender == self.me {
            let own = self.key.as_ref().map(|(_, public, kid)| (*public, *kid));
            return Ok((own, &table.own_roles));
        }
        let peer = table.nodes.get(sender).ok_or(Refusal::UnknownSender)?;
        Ok((peer.key, &peer.roles))
    }

    fn count(
        &self,
        message: &BusMessage,
        reply: bool,
        claimed: Option<String>,
        refusal: Refusal,
        now: u64,
    ) {
        let label = rules::label(&message.subject, reply);
        *self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((label, refusal.as_str()))
            .or_default() += 1;
        let who = claimed.unwrap_or_else(|| "(no sender)".to_owned());
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if logged.len() >= LOGGED_SENDERS {
            logged.retain(|_, at| now.saturating_sub(*at) < LOG_EVERY_MS);
        }
        let due = logged
            .get(&who)
            .is_none_or(|at| now.saturating_sub(*at) >= LOG_EVERY_MS);
        if due && logged.len() < LOGGED_SENDERS {
            logged.insert(who.clone(), now);
            tracing::warn!(subject = label, sender = %who, reason = %refusal, "bus message refused; counted in geodns_bus_messages_refused_total (logged once a minute per sender)");
        }
    }
}

/// What one signed admission checks against.
#[derive(Clone, Copy)]
struct Check<'a> {
    table: &'a TrustTable,
    rule: Rule,
    expect: Option<MessageId>,
    now: u64,
}

/// Compat mode's unsigned messages: the original's shapes from nodes listed without a
/// key. They carry no id or timestamp (the original repeats heartbeats and re-publishes
/// proposals under one id), so they skip those checks.
fn admit_unsigned(
    table: &TrustTable,
    message: &mut BusMessage,
    rule: Rule,
    reply: bool,
) -> Result<(), Refusal> {
    if table.mode != AuthMode::Compat {
        return Err(Refusal::Unsigned);
    }
    let claimed = match rules::unsigned(&message.subject, reply, &message.payload) {
        Unsigned::Refused | Unsigned::Claimed(None) => return Err(Refusal::Unsigned),
        Unsigned::Anonymous => {
            message.sender = None;
            return Ok(());
        }
        Unsigned::Claimed(Some(claimed)) => claimed,
    };
    let peer = table.nodes.get(&claimed).ok_or(Refusal::UnknownSender)?;
    if peer.key.is_some() {
        // A node with a key always signs: an unsigned message in its name is forged.
        return Err(Refusal::Unsigned);
    }
    if let Rule::Role(role) = rule
        && !peer.roles.contains(&role)
    {
        return Err(Refusal::WrongRole);
    }
    message.sender = Some(claimed);
    Ok(())
}
