//! `monitor.stats.getDowntime`: the original's request and reply shapes, answered from
//! this monitor's outage log. An end before the start is an error reply, as the original.

use chrono::{DateTime, Utc};
use geodns_bus::wire::{DowntimeEvent, DowntimeRequest, DowntimeResponse, decode, go_zero_time};
use geodns_bus::{Bus, BusMessage, Subscription};
use geodns_core::ids::MemberId;
use geodns_store::{OutageFilter, OutageStore, SqlStore};
use tokio_util::sync::CancellationToken;

/// Answers requests until `shutdown`.
pub(super) async fn answer_downtime<B: Bus>(
    bus: B,
    requests: Subscription,
    store: SqlStore,
    node: String,
    shutdown: CancellationToken,
) {
    let reply = |message: BusMessage| {
        let (store, node) = (store.clone(), node.clone());
        async move {
            let response = respond(&store, &node, &message).await;
            Some(serde_json::to_vec(&response).unwrap_or_default())
        }
    };
    geodns_node::bus::answer_requests(bus, requests, None, shutdown, reply).await;
}

/// The reply to one request.
pub(super) async fn respond(
    store: &SqlStore,
    node: &str,
    message: &BusMessage,
) -> DowntimeResponse {
    let error = |text: String| DowntimeResponse {
        node_id: node.to_owned(),
        events: Some(Vec::new()),
        error: text,
    };
    let request: DowntimeRequest = match decode("downtime request", &message.payload) {
        Ok(request) => request,
        Err(e) => return error(e.to_string()),
    };
    if request.end_time < request.start_time {
        return error("endTime is before startTime".into());
    }
    let member = match request.member_name.trim() {
        "" => None,
        name => match MemberId::parse(name) {
            Ok(id) => Some(id),
            Err(e) => return error(format!("memberName: {e}")),
        },
    };
    let filter = OutageFilter {
        member,
        from: Some(request.start_time),
        to: Some(request.end_time),
        ..OutageFilter::default()
    };
    match store.outages(&filter).await {
        Ok(outages) => DowntimeResponse {
            node_id: node.to_owned(),
            events: Some(outages.into_iter().map(event).collect()),
            error: String::new(),
        },
        Err(e) => error(format!("cannot read the outage log: {e}")),
    }
}

fn event(outage: geodns_core::records::Outage) -> DowntimeEvent {
    let end: DateTime<Utc> = outage.end.unwrap_or_else(go_zero_time);
    DowntimeEvent {
        member_name: outage.key.member.to_string(),
        check_type: outage.key.kind.as_str().to_owned(),
        check_name: outage.key.check,
        domain_name: outage.key.domain,
        endpoint: outage.key.endpoint,
        status: false,
        start_time: outage.start,
        end_time: end,
        error_text: outage.error,
        data: (!outage.data.is_empty()).then_some(outage.data),
        is_ipv6: outage.key.ipv6,
    }
}
