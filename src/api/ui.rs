//! The staff tablet web UI, embedded in the binary (the tablet has no
//! internet and nothing may come from a CDN): `/` leads to `/ui/`.
//!
//! The UI is plain ES modules, loaded without a bundler: two pages, each
//! with its entry module — the staff tablet and manager dashboard
//! (`index.html`, `ui/app.js`) and the customer feedback kiosk
//! (`kiosk.html`, `ui/kiosk.js`), which import the others. Every file of `ui/` is one row of [`FILES`] and one
//! route: the list is written out (nothing reads a directory at run time),
//! and a test checks that it names every file of `ui/`, so a new module
//! cannot be forgotten.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// Module scripts too: browsers refuse a module of another type (nosniff).
const JS: &str = "text/javascript; charset=utf-8";

const INDEX: &str = include_str!("../../ui/index.html");

/// Every file of the UI: its name under `/ui/`, its contents, its type.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", INDEX, HTML),
    ("app.css", include_str!("../../ui/app.css"), CSS),
    // The entry module, then what it imports, lowest first.
    ("app.js", include_str!("../../ui/app.js"), JS),
    ("state.js", include_str!("../../ui/state.js"), JS),
    ("dom.js", include_str!("../../ui/dom.js"), JS),
    ("i18n.js", include_str!("../../ui/i18n.js"), JS),
    ("api.js", include_str!("../../ui/api.js"), JS),
    ("view.js", include_str!("../../ui/view.js"), JS),
    ("orders.js", include_str!("../../ui/orders.js"), JS),
    ("pairing.js", include_str!("../../ui/pairing.js"), JS),
    ("board.js", include_str!("../../ui/board.js"), JS),
    ("order.js", include_str!("../../ui/order.js"), JS),
    ("handover.js", include_str!("../../ui/handover.js"), JS),
    ("printers.js", include_str!("../../ui/printers.js"), JS),
    ("chart.js", include_str!("../../ui/chart.js"), JS),
    ("dashboard.js", include_str!("../../ui/dashboard.js"), JS),
    // The customer feedback kiosk: its own page and entry module, which
    // imports the staff tablet's lower modules (state, dom, i18n, api,
    // pairing), never a staff screen.
    ("kiosk.html", include_str!("../../ui/kiosk.html"), HTML),
    ("kiosk.css", include_str!("../../ui/kiosk.css"), CSS),
    ("kiosk.js", include_str!("../../ui/kiosk.js"), JS),
];

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The UI's routes: `/` and `/ui` lead to `/ui/` (the index), and each
/// file of [`FILES`] is at `/ui/<name>`. Anything else under `/ui/` is the
/// API's 404.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/", get(root))
        .route("/ui", get(root))
        .route("/ui/", get(index));
    for &(name, body, content_type) in FILES {
        router = router.route(
            &format!("/ui/{name}"),
            get(move || async move { asset(body, content_type) }),
        );
    }
    router
}

async fn root() -> Redirect {
    Redirect::to("/ui/")
}

async fn index() -> Response {
    asset(INDEX, HTML)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;
    use tower_service::Service;

    /// The files of `ui/` on disk, by name.
    fn ui_dir() -> BTreeMap<String, String> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui");
        std::fs::read_dir(&dir)
            .expect("ui/")
            .map(|entry| {
                let path = entry.expect("ui/ entry").path();
                assert!(
                    path.is_file(),
                    "{} is not a file: ui/ is flat",
                    path.display()
                );
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("a UTF-8 file name")
                    .to_owned();
                let text = std::fs::read_to_string(&path).expect("a UTF-8 text file");
                (name, text)
            })
            .collect()
    }

    async fn get_ui(path: &str) -> Response {
        let mut app: Router = routes();
        std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut app, cx))
            .await
            .expect("ready");
        let request = Request::get(path).body(Body::empty()).expect("request");
        app.call(request).await.expect("infallible")
    }

    #[tokio::test]
    async fn every_ui_file_is_served_with_its_type_and_the_same_headers() {
        let on_disk = ui_dir();
        let listed: BTreeSet<&str> = FILES.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(listed.len(), FILES.len(), "a file is listed twice");
        let names: BTreeSet<&str> = on_disk.keys().map(String::as_str).collect();
        assert_eq!(
            names, listed,
            "ui/ and ui.rs's FILES must name the same files (add a new module to FILES)"
        );
        assert!(
            on_disk.keys().filter(|n| n.ends_with(".js")).count() > 1,
            "the UI is split into modules"
        );
        for (name, text) in &on_disk {
            let response = get_ui(&format!("/ui/{name}")).await;
            assert_eq!(response.status(), StatusCode::OK, "/ui/{name}");
            let headers = response.headers().clone();
            let header = |h: header::HeaderName| {
                headers
                    .get(&h)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let expected_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
                Some("js") => JS,
                Some("css") => CSS,
                Some("html") => HTML,
                other => panic!("ui/{name}: no content type for {other:?}"),
            };
            assert_eq!(header(header::CONTENT_TYPE), expected_type, "/ui/{name}");
            if name.ends_with(".js") {
                assert_eq!(
                    header(header::CONTENT_TYPE),
                    "text/javascript; charset=utf-8",
                    "/ui/{name}: modules must be text/javascript"
                );
            }
            assert_eq!(header(header::CACHE_CONTROL), "no-cache", "/ui/{name}");
            assert_eq!(
                header(header::CONTENT_SECURITY_POLICY),
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                "/ui/{name}"
            );
            assert_eq!(
                header(header::X_CONTENT_TYPE_OPTIONS),
                "nosniff",
                "/ui/{name}"
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(body, text.as_bytes(), "/ui/{name} serves the file");
        }
        for path in ["/ui/", "/ui/index.html"] {
            let response = get_ui(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], HTML, "{path}");
        }
        for path in ["/", "/ui"] {
            let response = get_ui(path).await;
            assert!(response.status().is_redirection(), "{path}");
            assert_eq!(response.headers()[header::LOCATION], "/ui/", "{path}");
        }
        // Nothing else under /ui/ (the API's fallback answers 404 there).
        let response = get_ui("/ui/missing.js").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn no_ui_file_parses_html() {
        // A cheap guard for "DOM built with textContent": none of the ways
        // to turn a string into markup appears in any file of ui/.
        for (name, text) in ui_dir() {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "createContextualFragment",
            ] {
                assert!(!text.contains(sink), "ui/{name} uses {sink}");
            }
        }
    }

    /// Each page of the UI and its entry module.
    const ENTRIES: &[(&str, &str)] = &[("index.html", "app.js"), ("kiosk.html", "kiosk.js")];

    #[test]
    fn ui_modules_say_what_they_are_for_and_import_one_way() {
        let on_disk = ui_dir();
        let modules: BTreeMap<&str, &str> = on_disk
            .iter()
            .filter(|(name, _)| name.ends_with(".js"))
            .map(|(name, text)| (name.as_str(), text.as_str()))
            .collect();
        let mut imports: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (&name, &text) in &modules {
            assert!(
                text.starts_with("// "),
                "ui/{name} starts with a comment saying what it is for"
            );
            // `import { a, b } from './x.js';` (maybe over several lines):
            // the only kind of import, never from elsewhere.
            let mut deps = Vec::new();
            let mut in_import = false;
            for line in text.lines() {
                in_import |= line.starts_with("import ");
                if !in_import {
                    continue;
                }
                let Some((_, from)) = line.split_once(" from '") else {
                    continue;
                };
                in_import = false;
                let target = from
                    .strip_prefix("./")
                    .and_then(|t| t.strip_suffix("';"))
                    .unwrap_or_else(|| panic!("ui/{name}: an import from elsewhere: {line}"));
                assert!(
                    modules.contains_key(target),
                    "ui/{name} imports ./{target}, which is not a module of ui/"
                );
                deps.push(target);
            }
            assert!(!text.contains("import("), "ui/{name}: no dynamic imports");
            imports.insert(name, deps);
        }
        // The entry module reaches every module, and no import runs in a
        // circle (screens reach each other through view.js's `nav`).
        fn visit<'a>(
            name: &'a str,
            imports: &BTreeMap<&'a str, Vec<&'a str>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            assert!(
                !path.contains(&name),
                "ui/ imports run in a circle: {} → {name}",
                path.join(" → ")
            );
            if !done.insert(name) {
                return;
            }
            path.push(name);
            for &dep in &imports[name] {
                visit(dep, imports, path, done);
            }
            path.pop();
        }
        // The two pages' entry modules together reach every module; the
        // kiosk's reaches no staff screen.
        let mut reached = BTreeSet::new();
        for (page, entry) in ENTRIES {
            visit(entry, &imports, &mut Vec::new(), &mut reached);
            assert!(
                on_disk[*page]
                    .contains(&format!(r#"<script type="module" src="{entry}"></script>"#)),
                "{page} loads {entry} as a module"
            );
        }
        let all: BTreeSet<&str> = modules.keys().copied().collect();
        assert_eq!(
            reached, all,
            "app.js and kiosk.js import every module of ui/"
        );
        let mut kiosk = BTreeSet::new();
        visit("kiosk.js", &imports, &mut Vec::new(), &mut kiosk);
        for screen in [
            "board.js",
            "order.js",
            "handover.js",
            "dashboard.js",
            "printers.js",
        ] {
            assert!(
                !kiosk.contains(screen),
                "the kiosk page must not load the staff screen {screen}"
            );
        }
    }
}
