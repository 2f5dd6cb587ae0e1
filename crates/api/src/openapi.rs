//! The OpenAPI 3.0 document (`/api/openapi.json`), generated from the route table
//! ([`crate::routes::routes`]): paths, methods, parameters, request bodies, the statuses
//! each route answers with, and which routes need a bearer token.

use serde_json::{Map, Value, json};

use crate::Node;
use crate::routes::{At, Body, Route, routes};

/// The OpenAPI 3.0 document of `routes`.
pub fn document<N>(routes: &[Route<N>]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in routes {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(methods) = entry.as_object_mut() {
            methods.insert(route.method.to_owned(), operation(route));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "geodns",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of a geodns node: health, metrics, the original IBP collator's routes, maintenance and overrides, the PowerDNS remote backend and the status page.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    })
}

fn operation<N>(route: &Route<N>) -> Value {
    let doc = &route.doc;
    let ok = match doc.body {
        Body::Json => json!({"description": "OK", "content": {"application/json": {"schema": {}}}}),
        Body::Metrics => {
            json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}})
        }
        Body::Html => {
            json!({"description": "OK", "content": {"text/html": {"schema": {"type": "string"}}}})
        }
    };
    let mut responses = Map::new();
    responses.insert("200".to_owned(), ok);
    for (status, description) in doc.errors {
        let error = json!({"$ref": "#/components/schemas/Error"});
        responses.insert(
            status.to_string(),
            json!({"description": description, "content": {"application/json": {"schema": error}}}),
        );
    }
    let parameters: Vec<Value> = doc
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": if p.at == At::Path { "path" } else { "query" },
                "required": p.required,
                "description": p.description,
                "schema": {"type": "string"},
            })
        })
        .collect();
    let id = format!(
        "{}{}",
        route.method,
        route.path.replace(['/', '{', '}', '.'], "_")
    );
    let mut operation = json!({
        "operationId": id,
        "tags": [doc.tag],
        "summary": doc.summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(description) = doc.description {
        operation["description"] = json!(description);
    }
    if let Some(request) = doc.request {
        operation["requestBody"] = json!({
            "required": true,
            "description": request,
            "content": {"application/json": {"schema": {"type": "object"}}},
        });
    }
    if doc.auth {
        operation["security"] = json!([{"bearer": []}]);
    }
    operation
}

pub(crate) async fn serve<N: Node>() -> axum::Json<Value> {
    axum::Json(document(&routes::<N>()))
}
