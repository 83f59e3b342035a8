//! `[api] redirect_http`: the plain-HTTP port beside an HTTPS API. A
//! browser that types the box's address gets a 308 to the same host on
//! the TLS port (GET and HEAD of anything but the API); the API itself is
//! refused with 403 "use https", so a till or tablet configured with an
//! `http://` URL fails loudly instead of being redirected after its token
//! already crossed the network in clear.
//!
//! Served by the same accept loop as the API (`listener::serve`: caps,
//! header timer, write-stall timer). Must never: answer an API request,
//! read a body, or redirect anywhere but the request's own host.

use axum::extract::Request;
use axum::http::{header, uri::Authority, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::error::ApiError;

/// The router of the redirect port; `https_port` is `api.listen`'s.
pub fn router(https_port: u16) -> Router {
    Router::new().fallback(move |req: Request| async move { answer(&req, https_port) })
}

fn answer(req: &Request, https_port: u16) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return use_https(
            "this plain-HTTP port answers no API request: send it to the https:// address (and trust the store's certificate); never send a token over http",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return use_https(
            "this plain-HTTP port only sends browsers to https (GET or HEAD); use the https:// address",
        );
    }
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<Authority>().ok())
    else {
        return ApiError::bad_request(
            "a Host header is needed to send you to https; use the https:// address",
        )
        .into_response();
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let location = format!("https://{}{port}{target}", host.host());
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => ApiError::bad_request("the address cannot be sent to https").into_response(),
    }
}

fn use_https(detail: &str) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "use-https",
        format!("use https: {detail}"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower_service::Service as _;

    async fn call(method: &str, uri: &str, host: Option<&str>) -> Response {
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        router(8443)
            .call(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn location(r: &Response) -> &str {
        r.headers()[header::LOCATION].to_str().unwrap()
    }

    #[tokio::test]
    async fn ui_paths_go_to_https_on_the_same_host_and_the_api_is_refused() {
        let r = call("GET", "/", Some("store-7.local")).await;
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&r), "https://store-7.local:8443/");
        let r = call("HEAD", "/app.js?v=1", Some("10.0.0.5:80")).await;
        assert_eq!(location(&r), "https://10.0.0.5:8443/app.js?v=1");
        let r = call("GET", "/kiosk.html", Some("[fd00::5]:80")).await;
        assert_eq!(location(&r), "https://[fd00::5]:8443/kiosk.html");

        for (m, uri) in [
            ("GET", "/api/v1/events"),
            ("POST", "/api/v1/events"),
            ("GET", "/api"),
            ("POST", "/"),
            ("PUT", "/index.html"),
        ] {
            let r = call(m, uri, Some("store-7.local")).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{m} {uri}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
            let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
            let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(p["type"], "urn:store-edge:problem:use-https");
            assert!(
                p["detail"].as_str().unwrap().starts_with("use https"),
                "{p}"
            );
        }
        // A forged Host cannot smuggle a path or a header.
        let r = call("GET", "/", Some("evil.example/x")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = call("GET", "/", None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
