//! `/api/openapi.json`: built from the same route table as the router, so every route
//! is in it; it passes a real OpenAPI validator (openapi-spec-validator, installed by
//! scripts/pytools), and every documented GET without required parameters answers.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::{empty, get_json, serve};

#[tokio::test]
async fn the_document_lists_every_route_and_validates() {
    let base = serve(empty()).await;
    let (status, document) = get_json(&base, "/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/", "get"),
        ("/metrics", "get"),
        ("/dns", "post"),
        ("/api/requests/country", "get"),
        ("/api/services", "get"),
        ("/api/members/{name}/maintenance", "put"),
        ("/api/overrides/{domain}/{country}", "delete"),
        ("/api/openapi.json", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    // The usage routes say where they read from.
    for path in [
        "/api/requests/country",
        "/api/requests/summary",
        "/api/members/stats",
    ] {
        let description = paths[path]["get"]["description"].as_str().unwrap();
        assert!(
            description.contains("collected copies") && description.contains("own rows"),
            "{path}: {description}"
        );
    }
    let maintenance = &paths["/api/members/{name}/maintenance"]["put"];
    assert_eq!(maintenance["security"][0]["bearer"], serde_json::json!([]));
    assert_eq!(maintenance["parameters"][0]["in"], "path");
    assert_eq!(
        maintenance["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error"
    );

    // Every documented GET that needs no parameter is served (none falls to the 404).
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for (path, methods) in paths {
        let Some(get) = methods.get("get") else {
            continue;
        };
        let required = get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["required"] == true);
        if required {
            continue;
        }
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_ne!(
            response.status().as_u16(),
            404,
            "{path} is documented but not served"
        );
    }

    let validator = std::env::var("GEODNS_TEST_OPENAPI_VALIDATOR").expect(
        "GEODNS_TEST_OPENAPI_VALIDATOR is not set: run the tests through scripts/test \
         (scripts/pytools installs openapi-spec-validator)",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let output = std::process::Command::new(validator)
        .arg(&file)
        .output()
        .expect("openapi-spec-validator runs");
    assert!(
        output.status.success(),
        "the document does not validate:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
