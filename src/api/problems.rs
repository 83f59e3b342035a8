//! The answers every route can give besides its own, written into the
//! OpenAPI document once rather than on each handler: they come from the
//! layers all routes share (`auth.rs`, `body.rs`, the extractors, the
//! writer queue), and every refusal is `application/problem+json`
//! (`error.rs`). Checked against the running service by schemathesis
//! (`tests/it/schemathesis.rs`).
//!
//! Must never: remove or change a response a handler documents itself
//! (only its content type), or document a route beyond `/api/`.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Ref, RefOr};

/// The media type of every error answer (`ApiError::into_response`).
pub const PROBLEM_JSON: &str = "application/problem+json";

pub struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            let by_id = path.contains('{');
            let writes = item.post.is_some();
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                errors_are_problems(op);
                if !api {
                    continue;
                }
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let body = op.request_body.is_some();
                let params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let common: [(bool, &str, &str); 10] = [
                    (
                        body || params,
                        "400",
                        "The request does not parse (query, path or JSON syntax)",
                    ),
                    (
                        secured,
                        "401",
                        "No token, or an unknown, revoked or expired one",
                    ),
                    (secured, "403", "This token's role may not use this route"),
                    (by_id, "404", "No such resource"),
                    (body, "408", "The body did not arrive within 15 s"),
                    (body, "413", "The body is larger than this route takes"),
                    (body, "415", "The body is not `application/json`"),
                    (
                        body || params,
                        "422",
                        "The request is well-formed but its values are not valid",
                    ),
                    (
                        true,
                        "503",
                        "The store is busy (write queue full, `Retry-After`) or stopping",
                    ),
                    (
                        writes,
                        "507",
                        "Nothing was recorded: the storage quota is reached or the disk is full",
                    ),
                ];
                for (applies, status, description) in common {
                    if applies && !op.responses.responses.contains_key(status) {
                        op.responses
                            .responses
                            .insert(status.to_owned(), problem(description));
                    }
                }
            }
        }
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// A 4xx or 5xx a handler documents as `application/json` is sent as
/// `application/problem+json`: say so.
fn errors_are_problems(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if let Some(content) = response.content.shift_remove("application/json") {
            response.content.insert(PROBLEM_JSON.to_owned(), content);
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    /// Every error answer of the document is problem+json, and a secured
    /// route documents 401 and 503.
    #[test]
    fn every_error_answer_is_documented_as_problem_json() {
        let doc = serde_json::to_value(super::super::ApiDoc::openapi()).expect("json");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("item") {
                for (status, response) in op["responses"].as_object().expect("responses") {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = response["content"].as_object();
                        assert!(
                            content.is_some_and(|c| c.keys().all(|k| k == super::PROBLEM_JSON)),
                            "{method} {path} {status}: {response}"
                        );
                    }
                }
                if path.starts_with("/api/v1/") && op.get("security").is_some() {
                    for status in ["401", "503"] {
                        assert!(
                            op["responses"].get(status).is_some(),
                            "{method} {path} lacks {status}"
                        );
                    }
                }
            }
        }
    }
}
