//! `tenantry serve` against a running sandbox: it converges the example, applies a manifest edit
//! without a restart, reports drift (policy `report`) or corrects it (`correct`), lets a CI
//! `apply --target` through, backs off a failing customer alone, serves metrics and a signed
//! hook, and stops on SIGTERM leaving no lock and nothing half-recorded.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::e2e::{assert_one_of_each, converge, dir_arg};
use crate::support::{Served, Streaming, client, example_copy};

const HOOK_SECRET: &str = "hook-secret-4e1f0c2b9d";

/// `tenantry serve DIR --listen 127.0.0.1:0 ARGS` against `served`; returns it and its address.
fn start(served: &Served, d: &str, args: &[&str]) -> (Streaming, String) {
    let mut all = vec!["serve", d, "--listen", "127.0.0.1:0", "--debounce", "200ms", "--hook-secret", "env:HOOK"];
    all.extend_from_slice(args);
    let mut c = served.command(&all);
    c.env("HOOK", HOOK_SECRET);
    let mut s = Streaming::spawn(c);
    let line = s.next_err("/metrics");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/metrics").next())
        .unwrap_or_else(|| panic!("no address in {line}"))
        .to_string();
    (s, addr)
}

/// Until `done` holds for the sandbox dump (polled), or panic with what serve printed.
async fn until(served: &Served, serve: &Streaming, what: &str, done: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let dump = served.dump().await;
        if done(&dump) {
            return dump;
        }
        assert!(Instant::now() < deadline, "{what} did not happen; serve printed so far:\n{}", serve.seen);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn vco_domain(dump: &Json, name: &str) -> String {
    let e = dump["velocloud"].as_array().unwrap().iter().find(|o| o["enterprise"]["name"] == name);
    e.and_then(|e| e["enterprise"]["domain"].as_str()).unwrap_or_default().to_string()
}

fn veeam_phone(dump: &Json, name: &str) -> String {
    let c = dump["veeam"].as_array().unwrap().iter().find(|o| o["company"]["name"] == name);
    c.and_then(|c| c["company"]["_embedded"]["organization"]["phone"].as_str()).unwrap_or_default().to_string()
}

/// The example planned against the sandbox: exit 0 of `plan --detailed-exitcode` means the
/// vendors match every manifest.
fn in_sync(served: &Served, d: &str) -> bool {
    served.run(&["plan", d, "--detailed-exitcode"]).code == 0
}

async fn wait_in_sync(served: &Served, serve: &Streaming, d: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !in_sync(served, d) {
        assert!(Instant::now() < deadline, "serve did not converge the example:\n{}", serve.seen);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn metrics(addr: &str) -> String {
    let r = client().get(format!("http://{addr}/metrics")).send().await.expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    r.text().await.unwrap()
}

/// The Prometheus text format, line by line: `# HELP` / `# TYPE`, or `name{labels} value`. Returns
/// the samples by their series (name with labels).
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(rest.starts_with("HELP ") || rest.starts_with("TYPE "), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "bad labels in {line}");
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        out.insert(series.to_string(), v);
    }
    out
}

fn sum(samples: &std::collections::BTreeMap<String, f64>, prefix: &str, containing: &str) -> f64 {
    samples.iter().filter(|(k, _)| k.starts_with(prefix) && k.contains(containing)).map(|(_, v)| v).sum()
}

fn sign(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A local webhook receiver: its URL, and the JSON bodies POSTed to it.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Json>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook/{token}",
        axum::routing::post(move |axum::Json(body): axum::Json<Json>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook/T0KEN-9f2c7a"), got)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} holds {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// No lock held, and no intent left (an action started and not recorded as done or pending).
fn nothing_left(dir: &Path) {
    let store = tenantry::state::sqlite::SqliteStore::open(&dir.join(".tenantry/sandbox/state.db")).expect("state");
    use tenantry::state::StateStore;
    let locks = store.locks().unwrap();
    assert!(locks.is_empty(), "no lock is left: {locks:?}");
    let intents = store.snapshot().unwrap().intents;
    let half: Vec<_> = intents.values().filter(|i| i.detail.is_none()).collect();
    assert!(half.is_empty(), "no half-recorded action: {half:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_converges_applies_edits_reports_or_corrects_drift_and_stops_cleanly() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let (mut serve, addr) = start(&served, &d, &["--resync", "2s", "--poll", "1s", "--await-interval", "2s"]);

    // The example converges without any apply: the vendors hold one object per declaration.
    wait_in_sync(&served, &serve, &d).await;
    assert_one_of_each(dir.path(), &served.dump().await);
    // Converged, every owner is looked at again in one resync pass (one set of list pages).
    serve.next_with("reconciling 10 owners (resync)");
    let ready = client().get(format!("http://{addr}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let health = client().get(format!("http://{addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let m = parse_metrics(&metrics(&addr).await);
    assert!(sum(&m, "tenantry_actions_total", "result=\"ok\"") >= 80.0, "{m:?}");
    assert!(sum(&m, "tenantry_vendor_requests_total", "vendor=\"velocloud\"") > 0.0, "{m:?}");
    assert!(sum(&m, "tenantry_reconcile_passes_total", "") >= 1.0, "{m:?}");
    assert!(m.keys().any(|k| k.starts_with("tenantry_vendor_request_duration_seconds_bucket")), "{m:?}");
    assert_eq!(m.get("tenantry_drifted_objects"), Some(&0.0), "{m:?}");

    // Drift at the vendor (a person edits the portal): reported, the vendor left as it is.
    let r = served
        .post(
            "/_sandbox/edit",
            json!({"vendor": "velocloud", "kind": "enterprise", "name": "Soylent Foods Inc", "field": "domain", "value": "drifted.example"}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    let chunk = serve.next_with("~ drift: velocloud customer \"Soylent Foods Inc\": domain");
    assert!(chunk.contains("Customer/soylent: 1 drifted"), "{chunk}");
    let m = parse_metrics(&metrics(&addr).await);
    assert_eq!(m.get("tenantry_drifted_objects"), Some(&1.0), "{m:?}");
    // Several resyncs later it is still as the person left it.
    serve.next_with("Customer/soylent: 1 drifted");
    assert_eq!(vco_domain(&served.dump().await, "Soylent Foods Inc"), "drifted.example");

    // A manifest edit is applied without a restart (and corrects nothing else).
    edit(&dir.path().join("customers/acme.yaml"), "phone: \"+44 113 496 0000\"", "phone: \"+44 113 496 0099\"");
    let dump =
        until(&served, &serve, "the phone edit reaching Veeam", |d| veeam_phone(d, "Acme Corp") == "+44 113 496 0099")
            .await;
    assert_eq!(vco_domain(&dump, "Soylent Foods Inc"), "drifted.example");
    assert!(serve.next_with("Customer/acme:").contains("customers/acme.yaml changed"), "{}", serve.seen);

    // A CI-style apply of one customer goes ahead while serve runs.
    let ci = served.run(&["apply", &d, "--target", "acme", "--auto-approve", "--lock-timeout", "2m"]);
    assert_eq!(ci.code, 0, "{ci}");

    // The hook: unsigned and wrongly signed requests are refused; a signed one queues a pass.
    let hook = format!("http://{addr}/hooks/reconcile");
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let unsigned = client().post(&hook).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let wrong =
        client().post(&hook).header("X-Hub-Signature-256", sign(b"other")).body(body.clone()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let good = client().post(&hook).header("X-Hub-Signature-256", sign(&body)).body(body).send().await.unwrap();
    assert_eq!(good.status(), 202);
    serve.next_with("reconcile requested by the webhook");

    // One customer's own policy: soylent says `drift: correct`, and serve (still `report`)
    // sets its domain back; switching the policy is not itself a change to apply.
    edit(&dir.path().join("customers/soylent.yaml"), "spec:\n", "spec:\n  drift: correct\n");
    until(&served, &serve, "soylent's drift being corrected", |d| {
        vco_domain(d, "Soylent Foods Inc") == "soylent.example"
    })
    .await;

    // SIGTERM: a clean stop, no lock, nothing half-recorded; the secret never printed.
    let status = serve.signal(libc::SIGTERM);
    assert!(status.success(), "{status:?}\n{}", serve.seen);
    assert!(serve.seen.contains(" stopped"), "{}", serve.seen);
    assert!(!serve.seen.contains(HOOK_SECRET));
    nothing_left(dir.path());

    // Drift while serve is down, and a serve with `--drift correct`: set back to the manifest.
    let r = served
        .post(
            "/_sandbox/edit",
            json!({"vendor": "velocloud", "kind": "enterprise", "name": "Hooli Europe Ltd", "field": "domain", "value": "drifted.example"}),
        )
        .await;
    assert_eq!(r["status"], "done", "{r}");
    let (mut serve, _) = start(&served, &d, &["--resync", "2s", "--drift", "correct"]);
    until(&served, &serve, "the drift being corrected", |d| vco_domain(d, "Hooli Europe Ltd") == "hooli-eu.example")
        .await;
    assert!(serve.signal(libc::SIGTERM).success(), "{}", serve.seen);
    assert!(in_sync(&served, &d));
    nothing_left(dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_whose_vendor_fails_backs_off_alone_and_sigterm_mid_pass_loses_nothing() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    // WatchGuard fails every request: its customers back off; the others converge.
    let r = served.post("/_sandbox/faults", json!({"faults": "watchguard:5xx=1"})).await;
    assert!(r.to_string().contains("watchguard"), "{r}");
    let (url, received) = receiver().await;
    let (mut serve, _) = {
        let mut all = vec!["serve", d.as_str(), "--listen", "127.0.0.1:0", "--notify", "env:NOTIFY_URL"];
        all.extend(["--resync", "2s", "--backoff", "1s", "--max-backoff", "4s", "--no-operator"]);
        let mut c = served.command(&all);
        c.env("NOTIFY_URL", &url);
        let mut s = Streaming::spawn(c);
        s.next_err("/metrics");
        (s, ())
    };
    // Globex uses WatchGuard; Hooli does not.
    let mut waits = Vec::new();
    while waits.len() < 4 {
        let line = serve.next_with("Customer/globex:");
        let last = line.lines().rev().find(|l| l.contains("Customer/globex:")).unwrap().to_string();
        assert!(last.contains("failed") && last.contains("(retry after failure)"), "{last}\n{}", serve.seen);
        waits.push(last.split("next look in ").nth(1).unwrap().split(' ').next().unwrap().to_string());
    }
    // Meanwhile Hooli, which has no WatchGuard service, was reconciled and never failed.
    let hooli: Vec<&str> = serve.seen.lines().filter(|l| l.trim_start().starts_with("Customer/hooli:")).collect();
    assert!(!hooli.is_empty(), "{}", serve.seen);
    assert!(hooli.iter().all(|l| !l.contains("failed") && !l.contains("retry after failure")), "{hooli:?}");
    assert!(serve.seen.contains("Customer/hooli velocloud create customer"), "{}", serve.seen);
    // 1s, 2s, 4s (each plus or minus 10%), then the cap.
    let secs: Vec<f64> = waits.iter().map(|w| w.trim_end_matches('s').parse::<f64>().unwrap()).collect();
    let near = |got: f64, want: f64| (got - want).abs() <= want * 0.1 + 0.05;
    assert!(
        near(secs[0], 1.0) && near(secs[1], 2.0) && near(secs[2], 4.0) && near(secs[3], 4.0),
        "{waits:?}\n{}",
        serve.seen
    );
    // The failure was told once (not once per retry), as were the portal tasks opened, in a
    // form chat webhooks show; the webhook's URL, a secret, is never printed.
    let events = received.lock().unwrap().clone();
    let globex: Vec<&Json> =
        events.iter().filter(|e| e["event"] == "failure" && e["owner"] == "Customer/globex").collect();
    assert_eq!(globex.len(), 1, "{events:#?}");
    assert!(globex[0]["text"].as_str().unwrap().starts_with("tenantry: Customer/globex: failed: "), "{events:#?}");
    assert!(globex[0]["message"].as_str().unwrap().contains("watchguard"), "{events:#?}");
    let tasks: Vec<&Json> = events.iter().filter(|e| e["event"] == "portal-task").collect();
    assert!(!tasks.is_empty(), "{events:#?}");
    assert!(tasks.iter().all(|t| t["message"].as_str().unwrap().contains("tenantry tasks show T-")), "{events:#?}");
    assert!(serve.signal(libc::SIGTERM).success());
    assert!(!serve.seen.contains(&url), "{}", serve.seen);
    nothing_left(dir.path());

    // A serve on a fresh estate, stopped in the middle of its first pass: the actions in
    // flight finish, the next run completes the rest, nothing is duplicated.
    drop(served);
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let (mut serve, _) = start(&served, &d, &["--resync", "1h"]);
    serve.read_until(|is_err, l| !is_err && l.trim_start().starts_with("ok "), "a first action");
    let status = serve.signal(libc::SIGTERM);
    assert!(status.success(), "{}", serve.seen);
    assert!(serve.seen.contains("stopping: finishing the actions in flight"), "{}", serve.seen);
    nothing_left(dir.path());
    converge(&served, &d, 4);
    assert_one_of_each(dir.path(), &served.dump().await);
}
