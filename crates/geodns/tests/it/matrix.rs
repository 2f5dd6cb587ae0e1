//! Matrix alerts against a real homeserver (Synapse, started by `scripts/synapse`): the
//! OFFLINE message names the outage and mentions the member's contact; the recovery is
//! an `m.replace` edit of that very event, also when the collator restarted in between;
//! while Matrix is unreachable the outage is stored at once and the alert is sent, once,
//! when the homeserver is back, even by a collator that restarted meanwhile.

use std::time::Duration;

use geodns_bus::MemoryBus;
use geodns_store::{OutageStore, SqlStore};
use geodns_test_support::{Kind, TcpProxy, TestDatabase, service_url};
use serde_json::{Value, json};

use crate::collator::{Collator, down_proposal, live_config, wait_for};

/// A logged-in test user of the homeserver.
pub(crate) struct User {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl User {
    async fn login(user_var: &str, password_var: &str) -> User {
        let base = service_url("GEODNS_TEST_MATRIX_URL");
        let http = geodns_node::http::client(Duration::from_secs(10)).unwrap();
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": service_url(user_var) },
            "password": service_url(password_var),
        });
        let text = http
            .post(format!("{base}/_matrix/client/v3/login"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        let token = answer["access_token"].as_str().expect("login").to_owned();
        User { http, base, token }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/_matrix/client/v3/{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// The room's `m.room.message` events, oldest first.
    pub(crate) async fn messages(&self, room: &str) -> Vec<Value> {
        let path = format!("rooms/{}/messages?dir=b&limit=100", encode(room));
        let answer = self.call(reqwest::Method::GET, &path, None).await;
        let mut events: Vec<Value> = answer["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .cloned()
            .collect();
        events.reverse();
        events
    }

    /// Waits (a minute at most) until the room's first message is there, an OFFLINE alert.
    pub(crate) async fn wait_offline(&self, room: &str) {
        let messages = self.wait_messages(room, 1, Duration::from_secs(60)).await;
        let body = messages[0]["content"]["body"].as_str().unwrap_or_default();
        assert!(body.contains("*OFFLINE*"), "{messages:#?}");
    }

    /// Waits until the room holds `count` messages; returns them.
    pub(crate) async fn wait_messages(
        &self,
        room: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let messages = self.messages(room).await;
            if messages.len() >= count {
                return messages;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} messages expected, the room has {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// A private room of the alert bot that the contact joined.
async fn room(bot: &User, contact: &User) -> String {
    let contact_id = service_url("GEODNS_TEST_MATRIX_CONTACT");
    let body =
        json!({ "preset": "private_chat", "invite": [contact_id], "name": "geodns alerts test" });
    let created = bot
        .call(reqwest::Method::POST, "createRoom", Some(body))
        .await;
    let room = created["room_id"].as_str().unwrap().to_owned();
    contact
        .call(
            reqwest::Method::POST,
            &format!("join/{}", encode(&room)),
            Some(json!({})),
        )
        .await;
    room
}

/// The bot and the contact, logged in, and a new room of theirs.
pub(crate) async fn users_and_room() -> (User, User, String) {
    let bot = User::login("GEODNS_TEST_MATRIX_USER", "GEODNS_TEST_MATRIX_PASSWORD").await;
    let contact = User::login(
        "GEODNS_TEST_MATRIX_CONTACT",
        "GEODNS_TEST_MATRIX_CONTACT_PASSWORD",
    )
    .await;
    let room = room(&bot, &contact).await;
    (bot, contact, room)
}

/// A collator database and data directory.
async fn sqlite() -> (TestDatabase, SqlStore, tempfile::TempDir) {
    let database = TestDatabase::create(Kind::Sqlite).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    (database, store, tempfile::tempdir().unwrap())
}

pub(crate) fn matrix_section(homeserver: &str, room: &str) -> String {
    format!(
        "[matrix]\nhomeserver = \"{homeserver}\"\nuser = \"{}\"\npassword = \"{}\"\n\
         [alerts]\nroom = \"{room}\"\nmentions = {{ amforc = [\"{}\"] }}\n",
        service_url("GEODNS_TEST_MATRIX_USER"),
        service_url("GEODNS_TEST_MATRIX_PASSWORD"),
        service_url("GEODNS_TEST_MATRIX_CONTACT"),
    )
}

pub(crate) async fn start(
    store: &SqlStore,
    dir: &std::path::Path,
    id: &str,
    matrix: &str,
) -> Collator {
    let live = live_config(dir, id, matrix).await;
    Collator::start_on(MemoryBus::new(id), store.clone(), live).await
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_then_online_edits_the_same_event_across_a_collator_restart() {
    let (_bot, contact, room) = users_and_room().await;
    let (_database, store, dir) = sqlite().await;
    let section = matrix_section(&service_url("GEODNS_TEST_MATRIX_URL"), &room);

    let first = start(&store, dir.path(), "collator-a", &section).await;
    let down = down_proposal("p-matrix-down");
    first
        .monitor
        .propose_and_vote(&down, &[("m1", true), ("m2", true), ("m3", false)])
        .await;
    first.monitor.finalize(&down, "m1", true).await;
    first.monitor.finalize(&down, "m2", true).await;
    let messages = contact
        .wait_messages(&room, 1, Duration::from_secs(30))
        .await;
    let offline = &messages[0];
    let body = offline["content"]["body"].as_str().unwrap();
    let contact_id = service_url("GEODNS_TEST_MATRIX_CONTACT");
    assert!(
        body.starts_with(&contact_id),
        "the contact is mentioned: {body}"
    );
    for text in [
        "*OFFLINE*",
        "• Member: Amforc",
        "• Check: site / ping",
        "• IPv6: false",
        "• Error: 100% packet loss",
        "m1 ✔",
        "m3 ✘",
    ] {
        assert!(body.contains(text), "{text} missing from {body}");
    }
    assert_eq!(
        offline["content"]["m.mentions"]["user_ids"][0],
        contact_id.as_str()
    );
    assert_eq!(
        offline["sender"],
        service_url("GEODNS_TEST_MATRIX_USER").as_str()
    );
    let offline_id = offline["event_id"].as_str().unwrap().to_owned();
    first.stop().await;

    // A new collator process (same database) records the recovery.
    let second = start(&store, dir.path(), "collator-b", &section).await;
    let mut up = down_proposal("p-matrix-up");
    up.status = true;
    second
        .monitor
        .propose_and_vote(&up, &[("m1", true), ("m2", true)])
        .await;
    second.monitor.finalize(&up, "m2", true).await;
    let messages = contact
        .wait_messages(&room, 2, Duration::from_secs(30))
        .await;
    assert_eq!(messages.len(), 2, "one OFFLINE, one edit: {messages:#?}");
    let edit = &messages[1]["content"];
    assert_eq!(edit["m.relates_to"]["rel_type"], "m.replace");
    assert_eq!(edit["m.relates_to"]["event_id"], offline_id.as_str());
    let new_body = edit["m.new_content"]["body"].as_str().unwrap();
    assert!(
        new_body.contains("*ONLINE*") && new_body.contains("• Duration:"),
        "{new_body}"
    );
    assert!(
        !new_body.contains(&contact_id),
        "no mention on recovery: {new_body}"
    );
    second.stop().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_down_stores_the_outage_and_alerts_once_it_is_back_across_a_restart() {
    let (_bot, contact, room) = users_and_room().await;
    let target: url::Url = service_url("GEODNS_TEST_MATRIX_URL").parse().unwrap();
    let address = std::net::ToSocketAddrs::to_socket_addrs(&(
        target.host_str().unwrap(),
        target.port().unwrap(),
    ))
    .unwrap()
    .next()
    .unwrap();
    let proxy = TcpProxy::start(address).await;
    proxy.cut();
    let (_database, store, dir) = sqlite().await;
    let section = matrix_section(&format!("http://{}", proxy.addr()), &room);
    let collator = start(&store, dir.path(), "collator-c", &section).await;

    let down = down_proposal("p-matrix-unreachable");
    collator
        .monitor
        .propose_and_vote(&down, &[("m1", true), ("m2", true)])
        .await;
    collator.monitor.finalize(&down, "m1", true).await;
    wait_for("the outage to be stored", &collator.queue, |r| {
        r.stored >= 2
    })
    .await;
    assert_eq!(
        store.current_outages().await.unwrap().len(),
        1,
        "stored while Matrix is down"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        contact.messages(&room).await.is_empty(),
        "nothing could be sent yet"
    );

    // The collator restarts while Matrix is still down: its unsent alert is kept.
    collator.stop().await;
    let collator = start(&store, dir.path(), "collator-c", &section).await;

    proxy.restore();
    contact.wait_offline(&room).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(contact.messages(&room).await.len(), 1, "sent once");
    collator.stop().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_token_instead_of_a_password_works_too() {
    let (bot, contact, room) = users_and_room().await;
    let (_database, store, dir) = sqlite().await;
    let section = format!(
        "[matrix]\nhomeserver = \"{}\"\naccess_token = \"{}\"\n[alerts]\nroom = \"{room}\"\n",
        service_url("GEODNS_TEST_MATRIX_URL"),
        bot.token,
    );
    let collator = start(&store, dir.path(), "collator-t", &section).await;
    let down = down_proposal("p-matrix-token");
    collator
        .monitor
        .propose_and_vote(&down, &[("m1", true), ("m2", true)])
        .await;
    collator.monitor.finalize(&down, "m1", true).await;
    let messages = contact
        .wait_messages(&room, 1, Duration::from_secs(30))
        .await;
    let body = messages[0]["content"]["body"].as_str().unwrap();
    assert!(
        body.starts_with("⚠️  *OFFLINE*"),
        "no mentions configured: {body}"
    );
    assert_eq!(
        messages[0]["sender"],
        service_url("GEODNS_TEST_MATRIX_USER").as_str()
    );
    collator.stop().await;
    store.close().await;
}
