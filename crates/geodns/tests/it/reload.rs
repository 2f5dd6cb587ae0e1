//! Hot reload from an http source: good changes are picked up, broken ones are rejected
//! and the configuration in force stays, runtime maintenance survives, and readers are
//! never blocked by a download.

use std::path::PathBuf;
use std::time::Duration;

use geodns::config_source::Loader;
use geodns::reload::{reload_once, run_reloader};
use geodns_core::ids::MemberId;
use geodns_node::LiveConfig;
use tokio_util::sync::CancellationToken;

use crate::support::{Documents, fixture, serve, write};

struct Setup {
    _dir: tempfile::TempDir,
    documents: Documents,
    loader: Loader,
}

async fn setup(reload_interval: &str) -> Setup {
    let documents = Documents::default();
    documents.set("members.json", &fixture("members_professional.json"));
    documents.set("services.json", &fixture("services_rpc.json"));
    let address = serve(documents.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[node]\nid = \"reload-test\"\n[sources]\nmembers = \"http://{address}/members.json\"\n\
         services = \"http://{address}/services.json\"\nreload_interval = \"{reload_interval}\"\n"
    );
    let path: PathBuf = write(dir.path(), "geodns.toml", &config);
    let http = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    Setup {
        _dir: dir,
        documents,
        loader: Loader::new(http, path, Vec::new()),
    }
}

fn amforc() -> MemberId {
    MemberId::parse("Amforc").unwrap()
}

#[tokio::test]
async fn good_change_is_picked_up_and_broken_change_is_rejected() {
    let setup = setup("1h").await;
    let live = LiveConfig::new(setup.loader.load().await.unwrap());
    let mut changes = live.subscribe();
    assert_eq!(live.current().catalog.members[&amforc()].level, 6);

    let changed = fixture("members_professional.json").replace(
        "\"MemberLevel\": 6, \"Joined\"",
        "\"MemberLevel\": 4, \"Joined\"",
    );
    setup.documents.set("members.json", &changed);
    reload_once(&setup.loader, &live).await.unwrap();
    assert!(changes.has_changed().unwrap());
    changes.borrow_and_update();
    assert_eq!(live.current().catalog.members[&amforc()].level, 4);

    setup.documents.set(
        "members.json",
        "{\"Amforc\": {\"Location\": {\"Latitude\": 123}}}",
    );
    let error = reload_once(&setup.loader, &live)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(": Amforc.Location.Longitude: missing longitude"),
        "{error}"
    );
    assert!(
        !changes.has_changed().unwrap(),
        "a rejected reload must not publish anything"
    );
    let current = live.current();
    assert_eq!(
        current.catalog.members.len(),
        4,
        "the previous configuration stays whole"
    );
    assert_eq!(current.catalog.members[&amforc()].level, 4);

    setup.documents.set("members.json", "{ not json");
    assert!(reload_once(&setup.loader, &live).await.is_err());
    assert_eq!(live.current().catalog.members.len(), 4);
}

#[tokio::test]
async fn a_vanished_source_keeps_the_previous_configuration() {
    let setup = setup("1h").await;
    let live = LiveConfig::new(setup.loader.load().await.unwrap());
    setup.documents.remove("services.json");
    let error = reload_once(&setup.loader, &live)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("/services.json: cannot fetch: HTTP status 404 Not Found"),
        "{error}"
    );
    assert_eq!(live.current().catalog.services.len(), 5);
}

#[tokio::test]
async fn maintenance_survives_reloads() {
    let setup = setup("1h").await;
    let live = LiveConfig::new(setup.loader.load().await.unwrap());
    live.set_maintenance("Amforc", true).unwrap();
    assert!(live.current().catalog.members[&amforc()].maintenance);
    let changed = fixture("members_professional.json")
        .replace("\"Region\": \"Europe\"", "\"Region\": \"Central Europe\"");
    setup.documents.set("members.json", &changed);
    reload_once(&setup.loader, &live).await.unwrap();
    let current = live.current();
    assert_eq!(current.catalog.members[&amforc()].region, "Central Europe");
    assert!(
        current.catalog.members[&amforc()].maintenance,
        "maintenance was lost on reload"
    );
    live.set_maintenance("Amforc", false).unwrap();
    assert!(!live.current().catalog.members[&amforc()].maintenance);
    assert!(live.set_maintenance("Nobody", true).is_err());
}

#[tokio::test]
async fn reload_loop_picks_up_a_change_and_stops_on_shutdown() {
    let setup = setup("1s").await;
    let live = LiveConfig::new(setup.loader.load().await.unwrap());
    let mut changes = live.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_reloader(
        setup.loader.clone(),
        live.clone(),
        shutdown.clone(),
    ));
    let changed = fixture("members_professional.json").replace(
        "\"MemberLevel\": 6, \"Joined\"",
        "\"MemberLevel\": 2, \"Joined\"",
    );
    setup.documents.set("members.json", &changed);
    tokio::time::timeout(Duration::from_secs(20), changes.changed())
        .await
        .expect("reload within 20 s")
        .unwrap();
    assert_eq!(live.current().catalog.members[&amforc()].level, 2);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("reloader stops")
        .unwrap();
}

/// While a reload waits on a slow download, readers get the configuration in force at
/// once, and so do runtime maintenance changes: nothing is locked during a fetch. The
/// download is held until the test releases it, so a reader that waited for it would
/// wait forever; the 10 s bound only turns that into a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_are_not_blocked_by_a_slow_download() {
    let setup = setup("1h").await;
    let live = LiveConfig::new(setup.loader.load().await.unwrap());
    let changed = fixture("members_professional.json").replace(
        "\"MemberLevel\": 6, \"Joined\"",
        "\"MemberLevel\": 3, \"Joined\"",
    );
    setup.documents.set("members.json", &changed);
    let hold = setup.documents.hold("members.json");
    let arrived = hold.arrived();
    let reload = tokio::spawn({
        let (loader, live) = (setup.loader.clone(), live.clone());
        async move { reload_once(&loader, &live).await }
    });
    tokio::time::timeout(Duration::from_secs(10), arrived)
        .await
        .expect("the reload started its download");

    // On a thread of its own, so a reader stuck on a lock fails the test, not hangs it.
    let reader = live.clone();
    let readers = tokio::task::spawn_blocking(move || {
        assert_eq!(reader.current().catalog.members[&amforc()].level, 6);
        assert_eq!(
            reader.subscribe().borrow().catalog.members[&amforc()].level,
            6
        );
        reader.set_maintenance("Amforc", true).unwrap();
        assert!(reader.current().catalog.members[&amforc()].maintenance);
    });
    tokio::time::timeout(Duration::from_secs(10), readers)
        .await
        .expect("readers and maintenance changes must not wait for the download")
        .unwrap();
    assert!(!reload.is_finished(), "the download is still held");

    hold.release();
    reload.await.unwrap().unwrap();
    let current = live.current();
    assert_eq!(current.catalog.members[&amforc()].level, 3);
    assert!(current.catalog.members[&amforc()].maintenance);
}
