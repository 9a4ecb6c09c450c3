//! The client contract in `docs/protocol.md` is kept true: every HTTP route a service mounts
//! (read from the routers' source) is documented there with its method, and every Socket.IO
//! event the server handles or emits is named there.

use std::path::{Path, PathBuf};

/// The crates whose routers and socket handlers clients reach.
const SOURCES: &[&str] = &[
    "auth-service/src",
    "socket-service/src",
    "file-service/src",
    "push-service/src",
    "packages/service-kit/src",
    "packages/models/src",
    "src",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in SOURCES {
        rust_files(&root().join(dir), &mut files);
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

fn protocol() -> String {
    std::fs::read_to_string(root().join("docs/protocol.md")).expect("docs/protocol.md")
}

/// `(METHOD, path)` of every `.route("path", method(…).other(…))` with a literal path.
fn routes(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let call = rest.trim_start();
        let Some(literal) = call.strip_prefix('"') else {
            continue; // a computed path (the standalone's object store): not a client route
        };
        let path = &literal[..literal.find('"').unwrap()];
        // The arguments up to the call's closing parenthesis.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(call.len(), |(i, _)| i);
        let args = &call[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let bare = format!("{method}(");
            let chained = format!(".{method}(");
            let routing = format!("routing::{method}(");
            let used = args.match_indices(&bare).any(|(i, _)| {
                i == 0 || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            }) || args.contains(&chained)
                || args.contains(&routing);
            if used {
                out.push((method.to_uppercase(), path.to_string()));
            }
        }
    }
    out
}

#[test]
fn every_mounted_route_is_in_the_protocol() {
    let doc = protocol();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (file, text) in sources() {
        for (method, path) in routes(&text) {
            // As a table row or in the text; with its query string where it takes one.
            let documented = [format!("`{method} {path}`"), format!("`{method} {path}?")]
                .iter()
                .any(|form| doc.contains(form.as_str()));
            found.push(format!("{method} {path}"));
            if !documented {
                missing.push(format!("{method} {path} ({})", file.display()));
            }
        }
    }
    assert!(
        found.len() >= 25,
        "the route reader finds the routers ({} routes): {found:?}",
        found.len()
    );
    assert!(
        missing.is_empty(),
        "routes the server mounts that docs/protocol.md does not document:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_socket_event_is_in_the_protocol() {
    let doc = protocol();
    let socket = std::fs::read_to_string(root().join("packages/models/src/socket.rs")).unwrap();
    let mut events = Vec::new();
    for module in ["pub mod client", "pub mod server"] {
        let start = socket.find(module).expect(module);
        let body = &socket[start..start + socket[start..].find('}').unwrap()];
        for line in body.lines() {
            if let Some((_, value)) = line.split_once("&str = \"") {
                events.push(value.trim_end_matches("\";").to_string());
            }
        }
    }
    assert!(events.len() >= 15, "events read: {events:?}");
    let missing: Vec<&String> = events
        .iter()
        .filter(|e| !doc.contains(&format!("`{e}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "Socket.IO events not named in docs/protocol.md: {missing:?}"
    );
}

#[test]
fn the_route_reader_reads_the_forms_the_routers_use() {
    let src = r#"
        Router::new()
            .route("/a", post(create).get(list::<A>))
            .route(
                "/b/{id}",
                axum::routing::post(subscribe).delete(unsubscribe),
            )
            .route(&format!("{PREFIX}/x"), get(download))
            .route("/c", get(|| async { Json(json!({"budget": 1})) }))
    "#;
    assert_eq!(
        routes(src),
        [
            ("GET", "/a"),
            ("POST", "/a"),
            ("POST", "/b/{id}"),
            ("DELETE", "/b/{id}"),
            ("GET", "/c"),
        ]
        .map(|(m, p)| (m.to_string(), p.to_string()))
    );
}
