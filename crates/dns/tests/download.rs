//! MaxMind downloads against a local server that behaves like MaxMind's endpoint: basic
//! auth, `Last-Modified` on HEAD, a `.tar.gz` with the database on GET.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::header::{AUTHORIZATION, LAST_MODIFIED};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use geodns_dns::download::{self, DownloadError, Edition, Fetched};
use geodns_test_support::mmdb::{self, CityEntry};

const ACCOUNT: &str = "424242";
const KEY: &str = "test-licence-key";
/// `Basic base64("424242:test-licence-key")`.
const AUTHORIZATION_VALUE: &str = "Basic NDI0MjQyOnRlc3QtbGljZW5jZS1rZXk=";
const EDITION: &str = "GeoLite2-City";
const NOVEMBER: &str = "Sun, 01 Nov 2026 12:00:00 GMT";
const DECEMBER: &str = "Tue, 01 Dec 2026 12:00:00 GMT";

/// What the fake MaxMind serves, and what it was asked.
#[derive(Debug, Default)]
struct Maxmind {
    last_modified: String,
    archive: Vec<u8>,
    heads: usize,
    gets: usize,
}

type Shared = Arc<Mutex<Maxmind>>;

async fn endpoint(
    State(shared): State<Shared>,
    UrlPath(edition): UrlPath<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(AUTHORIZATION_VALUE) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if edition != EDITION {
        return StatusCode::NOT_FOUND.into_response();
    }
    if query.as_deref() != Some("suffix=tar.gz") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let mut state = shared.lock().unwrap();
    if method == Method::HEAD {
        state.heads += 1;
    } else {
        state.gets += 1;
    }
    let headers = [(LAST_MODIFIED, state.last_modified.clone())];
    (headers, state.archive.clone()).into_response()
}

struct Fixture {
    dir: tempfile::TempDir,
    template: String,
    destination: PathBuf,
    shared: Shared,
    client: reqwest::Client,
}

impl Fixture {
    async fn start() -> Fixture {
        let shared = Shared::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/geoip/databases/{edition}/download", get(endpoint))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("GeoLite2-City.mmdb");
        Fixture {
            template: format!("http://{addr}/geoip/databases/{{edition}}/download?suffix=tar.gz"),
            dir,
            destination,
            shared,
            client,
        }
    }

    /// Serves `archive` with `last_modified` from now on.
    fn serve(&self, last_modified: &str, archive: Vec<u8>) {
        let mut state = self.shared.lock().unwrap();
        state.last_modified = last_modified.to_owned();
        state.archive = archive;
    }

    fn requests(&self) -> (usize, usize) {
        let state = self.shared.lock().unwrap();
        (state.heads, state.gets)
    }

    fn edition<'a>(&'a self, edition: &'a str, key: &'a str) -> Edition<'a> {
        Edition {
            url_template: &self.template,
            edition,
            account_id: ACCOUNT,
            license_key: key,
            destination: &self.destination,
            expect_type: "City",
        }
    }

    async fn refresh(&self) -> Result<Fetched, DownloadError> {
        download::refresh(&self.client, &self.edition(EDITION, KEY)).await
    }

    /// The file names in the directory, sorted: no temporary file may be left behind.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// A City database from `entries`, as bytes.
fn city_database(entries: &[CityEntry]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.mmdb");
    mmdb::write_city(&path, entries).unwrap();
    std::fs::read(path).unwrap()
}

/// A `.tar.gz` laid out like MaxMind's: a dated directory with the database and notes.
fn tarball(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut directory = tar::Header::new_gnu();
    directory.set_entry_type(tar::EntryType::Directory);
    directory.set_size(0);
    directory.set_mode(0o755);
    builder
        .append_data(&mut directory, "GeoLite2-City_20261101/", std::io::empty())
        .unwrap();
    for (path, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn city_tarball(entries: &[CityEntry]) -> Vec<u8> {
    let database = city_database(entries);
    tarball(&[
        ("GeoLite2-City_20261101/COPYRIGHT.txt", b"Test data only.\n"),
        ("GeoLite2-City_20261101/GeoLite2-City.mmdb", &database),
    ])
}

/// The country of `address` in the database at `path`.
fn country_at(path: &Path, address: &str) -> Option<String> {
    let reader = maxminddb::Reader::open_readfile(path).unwrap();
    let result = reader.lookup(address.parse().unwrap()).unwrap();
    let city: Option<maxminddb::geoip2::City<'_>> = result.decode().unwrap();
    city.and_then(|c| c.country.iso_code.map(str::to_owned))
}

fn extra_city() -> CityEntry {
    CityEntry {
        network: "81.2.70.0/24",
        latitude: 48.21,
        longitude: 16.37,
        country_code: "AT",
        country_name: "Austria",
    }
}

/// A fixture whose destination holds the November database.
async fn downloaded() -> Fixture {
    let fixture = Fixture::start().await;
    fixture.serve(NOVEMBER, city_tarball(&mmdb::world_cities()));
    fixture.refresh().await.unwrap();
    fixture
}

#[tokio::test]
async fn first_refresh_downloads_and_an_unchanged_last_modified_does_not() {
    let fixture = Fixture::start().await;
    let cities = mmdb::world_cities();
    let database = city_database(&cities);
    fixture.serve(NOVEMBER, city_tarball(&cities));

    let fetched = fixture.refresh().await.unwrap();
    assert_eq!(
        fetched,
        Fetched::Replaced {
            last_modified: Some(NOVEMBER.to_owned()),
            bytes: database.len() as u64,
        }
    );
    assert_eq!(std::fs::read(&fixture.destination).unwrap(), database);
    for entry in &cities {
        let address = entry.sample_address().to_string();
        let country = country_at(&fixture.destination, &address);
        assert_eq!(country.as_deref(), Some(entry.country_code), "{address}");
    }
    let marker = download::marker_path(&fixture.destination);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), NOVEMBER);
    assert_eq!(
        fixture.files(),
        ["GeoLite2-City.mmdb", "GeoLite2-City.mmdb.last-modified"]
    );
    assert_eq!(fixture.requests(), (1, 1));

    assert_eq!(fixture.refresh().await.unwrap(), Fetched::Unchanged);
    assert_eq!(
        fixture.requests(),
        (2, 1),
        "no GET for an unchanged database"
    );
}

#[tokio::test]
async fn changed_last_modified_replaces_the_database() {
    let fixture = downloaded().await;
    assert_eq!(country_at(&fixture.destination, "81.2.70.1"), None);
    let mut cities = mmdb::world_cities();
    cities.push(extra_city());
    fixture.serve(DECEMBER, city_tarball(&cities));

    let fetched = fixture.refresh().await.unwrap();
    assert!(
        matches!(&fetched, Fetched::Replaced { last_modified: Some(text), .. } if text == DECEMBER),
        "{fetched:?}"
    );
    assert_eq!(
        country_at(&fixture.destination, "81.2.70.1").as_deref(),
        Some("AT")
    );
    let marker = download::marker_path(&fixture.destination);
    assert_eq!(std::fs::read_to_string(marker).unwrap(), DECEMBER);
    assert_eq!(fixture.requests(), (2, 2));
    assert_eq!(fixture.files().len(), 2);
}

#[tokio::test]
async fn a_missing_database_is_downloaded_whatever_the_marker_says() {
    let fixture = downloaded().await;
    std::fs::remove_file(&fixture.destination).unwrap();

    let fetched = fixture.refresh().await.unwrap();
    assert!(matches!(fetched, Fetched::Replaced { .. }), "{fetched:?}");
    assert_eq!(
        country_at(&fixture.destination, "126.0.0.1").as_deref(),
        Some("JP")
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_the_old_file_is_untouched() {
    let fixture = downloaded().await;
    let before = std::fs::read(&fixture.destination).unwrap();
    fixture.serve(DECEMBER, city_tarball(&[extra_city()]));

    let edition = fixture.edition(EDITION, "wrong-key");
    let error = download::refresh(&fixture.client, &edition)
        .await
        .unwrap_err();
    assert!(matches!(error, DownloadError::Refused { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("MaxMind refused the account id or licence key"),
        "{message}"
    );
    assert!(message.contains(EDITION), "{message}");
    assert_eq!(std::fs::read(&fixture.destination).unwrap(), before);
    let marker = download::marker_path(&fixture.destination);
    assert_eq!(std::fs::read_to_string(marker).unwrap(), NOVEMBER);
    assert_eq!(
        fixture.requests(),
        (1, 1),
        "the refused requests are not counted"
    );
}

#[tokio::test]
async fn an_archive_without_a_database_fails_and_the_old_file_is_untouched() {
    let fixture = downloaded().await;
    let before = std::fs::read(&fixture.destination).unwrap();
    fixture.serve(
        DECEMBER,
        tarball(&[("GeoLite2-City_20261201/COPYRIGHT.txt", b"no database")]),
    );

    let error = fixture.refresh().await.unwrap_err();
    assert!(
        matches!(error, DownloadError::NoDatabase { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(".mmdb"), "{error}");
    assert_eq!(std::fs::read(&fixture.destination).unwrap(), before);
    let marker = download::marker_path(&fixture.destination);
    assert_eq!(std::fs::read_to_string(marker).unwrap(), NOVEMBER);
    assert_eq!(fixture.files().len(), 2);
}

#[tokio::test]
async fn corrupt_downloads_fail_and_the_old_file_is_untouched() {
    let fixture = downloaded().await;
    let before = std::fs::read(&fixture.destination).unwrap();

    fixture.serve(DECEMBER, b"<html>not an archive</html>".to_vec());
    let error = fixture.refresh().await.unwrap_err();
    assert!(matches!(error, DownloadError::NotGzip { .. }), "{error:?}");
    assert!(error.to_string().contains("not a gzip archive"), "{error}");

    let mut truncated = city_tarball(&mmdb::world_cities());
    truncated.truncate(truncated.len() / 2);
    fixture.serve(DECEMBER, truncated);
    let error = fixture.refresh().await.unwrap_err();
    assert!(matches!(error, DownloadError::Archive { .. }), "{error:?}");

    let garbage = tarball(&[("GeoLite2-City_20261201/GeoLite2-City.mmdb", b"garbage")]);
    fixture.serve(DECEMBER, garbage);
    let error = fixture.refresh().await.unwrap_err();
    assert!(matches!(error, DownloadError::Invalid { .. }), "{error:?}");

    assert_eq!(std::fs::read(&fixture.destination).unwrap(), before);
    assert_eq!(fixture.files().len(), 2);
}

#[tokio::test]
async fn a_database_of_another_kind_is_rejected() {
    let fixture = Fixture::start().await;
    fixture.serve(NOVEMBER, city_tarball(&mmdb::world_cities()));
    let edition = Edition {
        expect_type: "ASN",
        ..fixture.edition(EDITION, KEY)
    };

    let error = download::refresh(&fixture.client, &edition)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::WrongType { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("GeoLite2-City"), "{error}");
    assert!(fixture.files().is_empty(), "{:?}", fixture.files());
}

#[tokio::test]
async fn an_http_error_names_the_status_and_the_edition() {
    let fixture = Fixture::start().await;
    let edition = fixture.edition("GeoLite2-Nothing", KEY);

    let error = download::refresh(&fixture.client, &edition)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::Status { status: 404, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "MaxMind answered HTTP 404 for GeoLite2-Nothing"
    );
}

#[test]
fn the_licence_key_is_not_in_debug_output() {
    let edition = Edition {
        url_template: download::DEFAULT_URL_TEMPLATE,
        edition: EDITION,
        account_id: ACCOUNT,
        license_key: KEY,
        destination: Path::new("/var/lib/geodns/GeoLite2-City.mmdb"),
        expect_type: "City",
    };
    let shown = format!("{edition:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains(ACCOUNT), "{shown}");
}
