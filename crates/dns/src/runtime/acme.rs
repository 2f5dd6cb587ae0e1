//! TXT records whose content is a URL (the original's ACME helper): fetched in the
//! background every `[dns] acme_refresh` with the original's limits; the last good text
//! stays served when a fetch fails. Never fetched on the query path.

use std::collections::BTreeMap;

use crate::acme::{AcmeLimits, fetch_txt};
use geodns_core::model::RecordData;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use geodns_node::LiveConfig;

/// Fetches until `shutdown`; sends the texts whenever they change.
pub(super) async fn run(
    live: LiveConfig,
    texts: mpsc::Sender<BTreeMap<Url, String>>,
    shutdown: CancellationToken,
) {
    let limits = AcmeLimits::default();
    let client = match geodns_node::http::client(limits.timeout) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "ACME TXT fetching disabled: no HTTP client");
            return;
        }
    };
    let mut current: BTreeMap<Url, String> = BTreeMap::new();
    loop {
        let config = live.current();
        let urls: Vec<Url> = config
            .catalog
            .records
            .iter()
            .filter_map(|r| match &r.data {
                RecordData::TxtFromUrl(url) => Some(url.clone()),
                _ => None,
            })
            .collect();
        let mut next = BTreeMap::new();
        for url in urls {
            match fetch_txt(&client, &url, &limits).await {
                Ok(text) => {
                    next.insert(url, text);
                }
                Err(error) => {
                    tracing::warn!(%error, "ACME TXT fetch failed; the last text stays served");
                    if let Some(old) = current.get(&url) {
                        next.insert(url, old.clone());
                    }
                }
            }
        }
        if next != current {
            current = next;
            if texts.send(current.clone()).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.dns.acme_refresh) => {}
        }
    }
}
