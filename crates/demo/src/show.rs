//! The demo's live view: what to try, then one line per event (a decision with its
//! votes, a sample client's answer changing, the provider health), and the chaos: the
//! provider nearest the first sample client broken and repaired on schedule, with the
//! time each step took. Ends after the duration or when `shutdown` is cancelled, and
//! then cancels it (the nodes stop).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use geodns_bus::{Bus, subjects};
use geodns_fakes::providers::SubstrateBehaviour;
use geodns_node::clock::Stopwatch;
use tokio_util::sync::CancellationToken;

use crate::Options;
use crate::chaos::Plan;
use crate::probe;
use crate::world::{CLIENTS, HOSTNAME, REGIONS, World, member_at, nearest};

/// A break or repair being timed.
#[derive(Debug, Clone, Copy)]
struct Episode {
    broken: bool,
    at: Duration,
    decided: Option<Duration>,
}

struct View<'a, W> {
    out: &'a mut W,
    clock: Stopwatch,
    answers: [Vec<IpAddr>; 3],
    health: [Option<bool>; 3],
    decided: BTreeSet<String>,
    /// Open proposals seen: id → (member, proposed up).
    proposals: std::collections::BTreeMap<String, (String, bool)>,
    /// Votes already shown: (proposal, voter).
    votes: BTreeSet<(String, String)>,
    episode: Option<Episode>,
    failovers: Vec<Duration>,
}

impl<W: Write> View<'_, W> {
    fn line(&mut self, text: &str) {
        let at = self.clock.elapsed().as_secs_f64();
        let _ = writeln!(self.out, "[{at:6.1}s] {text}");
        let _ = self.out.flush();
    }
}

/// Runs the view (and the chaos) over `bus`, a handle on the nodes' in-process bus whose
/// gate admits only the listed monitors' signed, fresh consensus messages.
pub async fn show<B: Bus, W: Write>(
    world: &World,
    bus: B,
    options: &Options,
    out: &mut W,
    shutdown: CancellationToken,
) {
    let mut view = View {
        out,
        clock: Stopwatch::start(),
        answers: Default::default(),
        health: [None; 3],
        decided: BTreeSet::new(),
        proposals: std::collections::BTreeMap::new(),
        votes: BTreeSet::new(),
        episode: None,
        failovers: Vec::new(),
    };
    intro(&mut view, world, options);
    // One subscription: proposals, votes and decisions in the order each monitor sent them.
    let Ok(mut consensus) = bus.subscribe(subjects::CONSENSUS).await else {
        view.line("cannot watch the decisions; stopping");
        shutdown.cancel();
        return;
    };
    let plan = Plan {
        first: options.first_break,
        every: options.chaos_every,
        broken_for: options.broken_for,
    };
    let mut broken = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut query = 0u16;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            message = consensus.next() => match message {
                Some(message) => consensus_message(&mut view, &message),
                None => break,
            },
            _ = tick.tick() => {
                let elapsed = view.clock.elapsed();
                if options.duration.is_some_and(|limit| elapsed >= limit) {
                    break;
                }
                let want = options.chaos && plan.broken_at(elapsed);
                if want != broken {
                    broken = want;
                    chaos(&mut view, world, broken);
                }
                query = query.wrapping_add(3);
                answers(&mut view, world, query).await;
            }
        }
    }
    summary(&mut view);
    shutdown.cancel();
}

fn intro<W: Write>(view: &mut View<'_, W>, world: &World, options: &Options) {
    let (dns, api) = (world.dns, world.api);
    let mut text = format!(
        "geodns demo: three monitors check three providers of {HOSTNAME} every second and vote;\n\
         the DNS server answers each client with the nearest healthy one.\n\n\
         providers (fake Substrate nodes, port {}):\n",
        world.port
    );
    for region in REGIONS {
        text.push_str(&format!("  {:<10} {}\n", region.member, region.ip));
    }
    text.push_str(&format!(
        "\nDNS on {dns}, API and status page on http://{api}/ (files in {})\n\ntry:\n",
        world.dir.display()
    ));
    for client in CLIENTS {
        text.push_str(&format!(
            "  dig @{} -p {} {HOSTNAME} A +subnet={} +short    # a client in {} ({})\n",
            dns.ip(),
            dns.port(),
            client.subnet,
            client.city,
            client.country
        ));
    }
    text.push_str(&format!(
        "  curl http://{api}/api/status\n  curl http://{api}/api/downtime/current\n  curl http://{api}/metrics\n"
    ));
    if options.chaos {
        let target = nearest(&CLIENTS[0]);
        text.push_str(&format!(
            "\nchaos: {} (nearest {}) breaks {} s after start, for {} s, every {} s\n",
            target.member,
            CLIENTS[0].city,
            options.first_break.as_secs(),
            options.broken_for.as_secs(),
            options.chaos_every.as_secs()
        ));
    }
    let _ = writeln!(view.out, "{text}");
}

/// A consensus message, single or (between geodns nodes) batched.
fn consensus_message<W: Write>(view: &mut View<'_, W>, message: &geodns_bus::BusMessage) {
    use geodns_bus::consensus::{decode_batch, decode_finalize, decode_proposal, decode_vote};
    let payload = &message.payload;
    match message.subject.as_str() {
        subjects::PROPOSE => decode_proposal(payload).map(|p| proposal(view, p)).ok(),
        subjects::VOTE => decode_vote(payload).map(|v| vote(view, v)).ok(),
        subjects::FINALIZE => decode_finalize(payload).map(|f| decision(view, f)).ok(),
        subjects::BATCH | subjects::DECIDED => decode_batch(payload)
            .map(|batch| {
                batch.proposals.into_iter().for_each(|p| proposal(view, p));
                batch.votes.into_iter().for_each(|v| vote(view, v));
                batch.finalizes.into_iter().for_each(|f| decision(view, f));
            })
            .ok(),
        _ => None,
    };
}

type Signed<M> = geodns_consensus::message::Signed<M>;

fn proposal<W: Write>(view: &mut View<'_, W>, signed: Signed<geodns_consensus::message::Proposal>) {
    let proposal = signed.message;
    if view.proposals.len() >= 10_000 {
        view.proposals.clear();
        view.votes.clear();
    }
    view.proposals.insert(
        proposal.id.as_str().to_owned(),
        (proposal.key.member.to_string(), proposal.status),
    );
}

/// Each monitor's vote, once per proposal: yes when its own result agrees.
fn vote<W: Write>(view: &mut View<'_, W>, signed: Signed<geodns_consensus::message::Vote>) {
    let vote = signed.message;
    let id = vote.proposal.as_str().to_owned();
    let Some((member, up)) = view.proposals.get(&id).cloned() else {
        return;
    };
    if !view.votes.insert((id, vote.voter.to_string())) {
        return;
    }
    view.line(&format!(
        "  vote: {} {} on {member} {}",
        vote.voter,
        if vote.agree { "yes" } else { "no" },
        if up { "UP" } else { "DOWN" }
    ));
}

fn decision<W: Write>(view: &mut View<'_, W>, signed: Signed<geodns_consensus::message::Finalize>) {
    let finalize = signed.message;
    let id = finalize.proposal.id.as_str().to_owned();
    if !finalize.passed || view.decided.contains(&id) {
        return;
    }
    if view.decided.len() >= 10_000 {
        view.decided.clear();
    }
    view.decided.insert(id);
    let member = finalize.proposal.key.member.to_string();
    let up = finalize.proposal.status;
    let votes: Vec<String> = finalize
        .votes
        .iter()
        .map(|vote| {
            format!(
                "{} {}",
                vote.message.voter,
                if vote.message.agree { "yes" } else { "no" }
            )
        })
        .collect();
    view.line(&format!(
        "decided: {member} is {} (votes: {}; finalized by {})",
        if up { "UP" } else { "DOWN" },
        votes.join(", "),
        finalize.sender
    ));
    if let Some(index) = REGIONS.iter().position(|r| r.member == member) {
        view.health[index] = Some(up);
        let health: Vec<String> = REGIONS
            .iter()
            .zip(view.health)
            .map(|(r, h)| {
                format!(
                    "{} {}",
                    r.member,
                    h.map_or("?", |up| if up { "up" } else { "down" })
                )
            })
            .collect();
        view.line(&format!("health: {}", health.join(" · ")));
    }
    let target = nearest(&CLIENTS[0]);
    let elapsed = view.clock.elapsed();
    if let Some(episode) = view.episode.as_mut()
        && member == target.member
        && up != episode.broken
        && episode.decided.is_none()
    {
        let took = elapsed.saturating_sub(episode.at);
        episode.decided = Some(took);
        let episode = *episode;
        view.line(&format!(
            "  the monitors agreed {:.1} s after the {}",
            took.as_secs_f64(),
            if episode.broken { "break" } else { "repair" }
        ));
    }
}

fn chaos<W: Write>(view: &mut View<'_, W>, world: &World, broken: bool) {
    let target = nearest(&CLIENTS[0]);
    let Some(provider) = world.provider(target.member) else {
        return;
    };
    provider.set(if broken {
        SubstrateBehaviour::RpcError
    } else {
        SubstrateBehaviour::Healthy
    });
    view.episode = Some(Episode {
        broken,
        at: view.clock.elapsed(),
        decided: None,
    });
    view.line(&format!(
        "chaos: {} {} ({})",
        if broken { "BROKE" } else { "REPAIRED" },
        target.member,
        if broken {
            "every RPC call now fails"
        } else {
            "answering again"
        }
    ));
}

async fn answers<W: Write>(view: &mut View<'_, W>, world: &World, query: u16) {
    for (index, client) in CLIENTS.iter().enumerate() {
        let got = probe::answer(world.dns, client, query.wrapping_add(index as u16)).await;
        if got.is_empty() || got == view.answers[index] {
            continue;
        }
        view.answers[index] = got.clone();
        let who: Vec<String> = got
            .iter()
            .map(|ip| format!("{} ({ip})", member_at(&ip.to_string()).unwrap_or("?")))
            .collect();
        view.line(&format!(
            "answer: {} ({}) gets {}",
            client.city,
            client.country,
            who.join(", ")
        ));
        if index == 0 {
            answered(view, &got);
        }
    }
}

/// The first client's answer changed: the end of a timed break or repair?
fn answered<W: Write>(view: &mut View<'_, W>, got: &[IpAddr]) {
    let target = nearest(&CLIENTS[0]);
    let Some(episode) = view.episode else {
        return;
    };
    let at_target = got.contains(&IpAddr::V4(target.ip));
    if at_target == episode.broken {
        return;
    }
    let took = view.clock.elapsed().saturating_sub(episode.at);
    view.episode = None;
    if episode.broken {
        view.failovers.push(took);
        view.line(&format!(
            "  FAILOVER: {} no longer gets {}, {:.1} s after the break (decision {:.1} s)",
            CLIENTS[0].city,
            target.member,
            took.as_secs_f64(),
            episode.decided.unwrap_or(took).as_secs_f64()
        ));
    } else {
        view.line(&format!(
            "  RECOVERY: {} gets {} again, {:.1} s after the repair",
            CLIENTS[0].city,
            target.member,
            took.as_secs_f64()
        ));
    }
}

fn summary<W: Write>(view: &mut View<'_, W>) {
    let failovers: Vec<String> = view
        .failovers
        .iter()
        .map(|took| format!("{:.1} s", took.as_secs_f64()))
        .collect();
    view.line(&format!(
        "demo over: {} decisions; failovers (break to changed answer): {}",
        view.decided.len(),
        if failovers.is_empty() {
            "none".to_owned()
        } else {
            failovers.join(", ")
        }
    ));
}
