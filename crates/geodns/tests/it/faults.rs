//! The fleet scenario (see `scenario.rs`) under faults, each on its own fleet of
//! separate processes: nats-server restarted, a monitor killed, the database gone for
//! 30 s, a DNS node killed during an outage, a monitor cut off from NATS, a monitor's
//! clock 30 s ahead. Each test says what it would catch.

use std::time::Duration;

use geodns_test_support::fleet::{FAR, Fleet, HITS_HOSTNAME, NEAR};

use crate::scenario::{
    ALL_MONITORS, LIMIT, break_near, near_outages, repair_near, spec, until_active, voters,
};

const TWO: [&str; 2] = ["monitor-2", "monitor-3"];

/// Waits until node `id` has adopted `status` for Near (its saved official results).
async fn adopted(fleet: &Fleet, id: &str, status: bool) {
    fleet
        .wait_for(
            &format!("{id} holds Near {}", if status { "up" } else { "down" }),
            LIMIT,
            async |fleet| (fleet.official_status(id, "Near") == Some(status)).then_some(()),
        )
        .await;
}

/// Catches: NATS clients that do not reconnect (or lose their subscriptions, or a
/// monitor's votes in flight) when the server restarts in the middle of a decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_passes_across_a_nats_server_restart() {
    let mut fleet = Fleet::start(spec("nats-restart")).await;
    fleet.near().fail().await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the monitors' first failures
    fleet.nats.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    fleet.nats.restart();
    fleet.until_answers(FAR, LIMIT).await;
    fleet
        .wait_for("one outage", LIMIT, async |fleet| {
            let ongoing = near_outages(fleet, "ongoing").await?;
            (ongoing.len() == 1).then_some(())
        })
        .await;
    until_active(&fleet, &ALL_MONITORS).await;
    repair_near(&fleet).await;
    fleet.finish().await;
}

/// Catches: a quorum that counts a dead monitor (no decision while one of three is gone),
/// and a restarted monitor that does not catch up on what was decided without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_monitors_decide_while_one_is_killed_and_it_catches_up() {
    let mut fleet = Fleet::start(spec("monitor-kill")).await;
    fleet.node("monitor-1").kill();
    until_active(&fleet, &TWO).await;
    let outage = break_near(&fleet).await;
    assert_eq!(voters(&outage), TWO, "{outage:#}");

    fleet.node("monitor-1").start();
    until_active(&fleet, &ALL_MONITORS).await;
    adopted(&fleet, "monitor-1", false).await;
    repair_near(&fleet).await;
    adopted(&fleet, "monitor-1", true).await;
    fleet.finish().await;
}

/// Catches: usage counts lost or doubled across a database outage (a failed flush that
/// drops counts, a retried one that adds them twice), and an outage decided while the
/// database is away that is stored twice or never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_seconds_without_the_database_lose_and_double_nothing() {
    let fleet = Fleet::start(spec("database-outage")).await;
    let dns = fleet.ids(geodns_test_support::fleet::Role::Dns);
    let mut sent = 0;
    for id in &dns {
        sent += fleet.hits(id, 100).await;
    }
    fleet.database_link.cut();
    let cut = geodns_node::clock::Stopwatch::start();
    for id in &dns {
        sent += fleet.hits(id, 150).await;
    }
    fleet.near().fail().await;
    fleet.until_answers(FAR, LIMIT).await;
    for id in &dns {
        sent += fleet.hits(id, 50).await;
    }
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(cut.elapsed())).await;
    assert!(
        near_outages(&fleet, "ongoing")
            .await
            .is_none_or(|o| o.is_empty()),
        "the API reads nothing while the database is away"
    );
    fleet.database_link.restore();

    fleet
        .wait_for("the outage stored once", LIMIT, async |fleet| {
            let ongoing = near_outages(fleet, "ongoing").await?;
            (ongoing.len() == 1).then_some(())
        })
        .await;
    assert_eq!(sent, 600, "every query answered");
    let stored = fleet
        .wait_for("every hit stored", LIMIT, async |fleet| {
            let stored = hits_stored(fleet).await?;
            (stored >= sent as u64).then_some(stored)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // more flushes: still not doubled
    assert_eq!(hits_stored(&fleet).await, Some(stored));
    assert_eq!(stored, sent as u64, "each hit stored once");
    repair_near(&fleet).await;
    fleet.finish().await;
}

/// The hits of [`HITS_HOSTNAME`] in the store, through the API (yesterday and today, so
/// it holds across midnight).
async fn hits_stored(fleet: &Fleet) -> Option<u64> {
    let today = geodns_node::clock::now().date_naive();
    let yesterday = today.pred_opt()?;
    let rows = fleet
        .api_json(&format!(
            "/api/requests/service?start={yesterday}&end={today}&domain={HITS_HOSTNAME}"
        ))
        .await?;
    Some(
        rows.as_array()?
            .iter()
            .filter_map(|row| row["requests"].as_u64())
            .sum(),
    )
}

/// Catches: a DNS node that answers from a stale or empty view right after a crash (it
/// must start from its saved official results and its peers before it answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_node_killed_during_an_outage_answers_right_from_its_first_answer() {
    let mut fleet = Fleet::start(spec("dns-restart")).await;
    break_near(&fleet).await;
    adopted(&fleet, "dns-1", false).await;
    fleet.node("dns-1").kill();
    fleet.node("dns-1").start();
    let first = fleet
        .wait_for("dns-1 answers again", LIMIT, async |fleet| {
            let answer = fleet.answer("dns-1").await;
            answer
                .parse::<std::net::Ipv4Addr>()
                .is_ok()
                .then_some(answer)
        })
        .await;
    assert_eq!(first, FAR, "the first answer after the restart");
    repair_near(&fleet).await;
    fleet.finish().await;
}

/// Catches: a split decision (a monitor cut off from the others deciding alone, or its
/// stale proposals opening a second outage when it returns) and a monitor that does not
/// rejoin after a partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_cut_off_from_nats_decides_nothing_alone_and_rejoins() {
    let fleet = Fleet::start(spec("partition")).await;
    fleet.monitor_links[0].cut();
    until_active(&fleet, &TWO).await;
    let outage = break_near(&fleet).await;
    assert_eq!(voters(&outage), TWO, "{outage:#}");
    tokio::time::sleep(Duration::from_secs(3)).await; // monitor-1 sees Near down alone
    fleet.monitor_links[0].restore();
    until_active(&fleet, &ALL_MONITORS).await;
    adopted(&fleet, "monitor-1", false).await;
    let closed = repair_near(&fleet).await; // one outage in all: no second one
    assert_eq!(voters(&closed), TWO, "{closed:#}");
    adopted(&fleet, "monitor-1", true).await;
    fleet.finish().await;
}

/// Catches: a monitor whose clock is wrong beyond `max_skew` (5 s) still counted (its
/// messages dated 30 s ahead must be refused as `future` and counted), a quorum that
/// waits for it, and a monitor within the allowance (3 s ahead) or with its clock put
/// right that is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_30_s_ahead_is_refused_and_takes_part_again_once_its_clock_is_right() {
    let mut fleet = Fleet::start(spec("clock-skew")).await;
    restart_with_offset(&mut fleet, Some("3000")).await;
    until_active(&fleet, &ALL_MONITORS).await; // 3 s ahead: within max_skew, it takes part
    break_near(&fleet).await;
    repair_near(&fleet).await;

    restart_with_offset(&mut fleet, Some("30000")).await;
    let future =
        "geodns_bus_messages_refused_total{subject=\"consensus.cluster\",reason=\"future\"}";
    fleet
        .wait_for(
            "monitor-1's messages refused as future",
            LIMIT,
            async |fleet| fleet.metric(future).await.filter(|n| *n > 0.0),
        )
        .await;
    until_active(&fleet, &TWO).await;
    let outage = break_near(&fleet).await;
    assert_eq!(voters(&outage), TWO, "{outage:#}");

    restart_with_offset(&mut fleet, None).await;
    until_active(&fleet, &ALL_MONITORS).await; // its clock right, it takes part again
    adopted(&fleet, "monitor-1", false).await;
    fleet.near().repair().await;
    fleet.until_answers(NEAR, LIMIT).await;
    adopted(&fleet, "monitor-1", true).await;
    fleet.finish().await;
}

/// Restarts monitor-1 with its clock moved by `offset` milliseconds (none: right).
async fn restart_with_offset(fleet: &mut Fleet, offset: Option<&str>) {
    let node = fleet.node("monitor-1");
    node.set_env(geodns_node::clock::OFFSET_VARIABLE, offset);
    node.restart();
}
