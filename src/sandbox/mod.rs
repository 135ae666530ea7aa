//! The sandbox: simulators of the six vendor APIs on 127.0.0.1, the portal steps that have no
//! API, a simulated operator who does portal tasks, and simulated customers who authorize,
//! consent and activate. It is how tests, benchmarks and first-time users run tenantry without
//! a vendor account, so it follows the vendors' documents, not tenantry's wishes.
//!
//! Design:
//! - one [`World`] holds every vendor's state behind a mutex; time-driven transitions (Pulse
//!   mapping, activation, consent, authorization, operator work) are stored as due times and
//!   settled at the start of every request, so behaviour follows the clock deterministically;
//! - one listener per vendor serves the vendor's real paths, through a seeded fault layer;
//! - an admin listener serves `/_sandbox/*` (dump, reset, clock, seeding edges) and the portals
//!   (`/_portal/*`) the simulated operator uses.

// Handlers answer `Result<_, Response>` so a failed check returns the vendor's own error shape;
// boxing every error response would only add noise to the simulators.
#![allow(clippy::result_large_err)]

pub mod acronis;
pub mod admin;
pub mod avepoint;
pub mod datto;
pub mod faults;
pub mod veeam;
pub mod velocloud;
pub mod watchguard;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::model::{Connection, Limits, SecretRef, Vendor};
pub use faults::{FaultSpec, Latency};

/// The sandbox's fixed credentials: public test values, printed by `sandbox serve`.
pub mod credentials {
    pub const VEEAM_USER: &str = "sandbox-msp";
    pub const VEEAM_PASSWORD: &str = "sandbox-veeam-password";
    pub const DATTO_PUBLIC: &str = "sandbox-public-key";
    pub const DATTO_SECRET: &str = "sandbox-datto-secret";
    pub const VCO_TOKEN: &str = "sandbox-vco-token";
    pub const VCO_USER: &str = "admin@msp.sandbox";
    pub const VCO_PASSWORD: &str = "sandbox-vco-password";
    pub const ACRONIS_CLIENT: &str = "sandbox-client";
    pub const ACRONIS_SECRET: &str = "sandbox-acronis-secret";
    pub const ACRONIS_HOME: &str = "8f14e45f-ceea-467f-a0e6-1f8a3b2c9d70";
    pub const WG_ACCESS: &str = "sandbox-access";
    pub const WG_PASSWORD: &str = "sandbox-wg-password";
    pub const WG_API_KEY: &str = "sandbox-wg-api-key";
    pub const WG_HOME: &str = "ACC-1000001";
    pub const AVEPOINT_CLIENT: &str = "sandbox-client";
    pub const AVEPOINT_SECRET: &str = "sandbox-avepoint-secret";
}

/// How the sandbox behaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    /// Persist the world here after every change (and load it at start).
    pub state_file: Option<PathBuf>,
    pub latency: Latency,
    pub faults: FaultSpec,
    pub seed: u64,
    /// How long the simulated operator takes to do a portal task.
    pub operator_delay: Duration,
    /// How long simulated customers take to authorize, consent and activate.
    pub customer_delay: Duration,
    /// Whether simulated customers respond at all.
    pub customers: bool,
    /// How long VCSP Pulse takes to verify and map a new customer.
    pub pulse_delay: Duration,
    /// How long authorization links stay valid (AvePoint documents 72 hours).
    pub link_ttl: Duration,
    /// How long the VCO refuses a client after a 429 (VMware documents 5 seconds).
    pub vco_penalty: Duration,
    /// Requests a VCO client may make per 5-second window before it is throttled.
    pub vco_bucket: u32,
    /// How long a WatchGuard operator transaction stays PENDING.
    pub operator_txn_delay: Duration,
    /// Users each simulated customer tenant has when Datto authorization completes.
    pub tenant_users: u32,
    /// Fixed ports (0 = any free port).
    pub ports: BTreeMap<String, u16>,
    /// Keep every vendor request and answer in the [`Journal`].
    #[serde(default)]
    pub journal: bool,
    /// Seconds a throttled answer (the `429` fault) asks the client to wait, where the vendor
    /// names a wait.
    #[serde(default = "one_second")]
    pub throttle_wait: u64,
}

fn one_second() -> u64 {
    1
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state_file: None,
            latency: Latency::default(),
            faults: FaultSpec::default(),
            seed: 1,
            operator_delay: Duration::from_millis(300),
            customer_delay: Duration::from_millis(600),
            customers: true,
            pulse_delay: Duration::from_millis(800),
            link_ttl: Duration::from_secs(72 * 3600),
            vco_penalty: Duration::from_secs(5),
            vco_bucket: 500,
            operator_txn_delay: Duration::from_millis(300),
            tenant_users: 12,
            ports: BTreeMap::new(),
            journal: false,
            throttle_wait: 1,
        }
    }
}

/// Every simulated vendor's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct World {
    pub veeam: veeam::State,
    pub datto: datto::State,
    pub velocloud: velocloud::State,
    pub acronis: acronis::State,
    pub watchguard: watchguard::State,
    pub avepoint: avepoint::State,
    /// Moves the sandbox clock (seconds), for tests of expiry.
    pub clock_offset: i64,
    pub next_id: u64,
}

impl World {
    pub fn seeded() -> Self {
        World {
            veeam: veeam::State::seeded(),
            datto: datto::State::default(),
            velocloud: velocloud::State::seeded(),
            acronis: acronis::State::seeded(),
            watchguard: watchguard::State::seeded(),
            avepoint: avepoint::State::seeded(),
            clock_offset: 0,
            next_id: 1000,
        }
    }

    /// A fresh number for ids.
    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Carry out every transition due at `now`.
    fn settle(&mut self, now: Timestamp, opts: &Options) {
        veeam::settle(self, now, opts);
        datto::settle(self, now, opts);
        acronis::settle(self, now, opts);
        watchguard::settle(self, now, opts);
        avepoint::settle(self, now, opts);
    }

    /// Every vendor object, as `{vendor: [objects]}`.
    pub fn dump(&self) -> Json {
        json!({
            "veeam": self.veeam.dump(),
            "datto": self.datto.dump(),
            "velocloud": self.velocloud.dump(),
            "acronis": self.acronis.dump(),
            "watchguard": self.watchguard.dump(),
            "avepoint": self.avepoint.dump(),
        })
    }
}

/// State shared by every listener.
pub struct Shared {
    world: Mutex<World>,
    pub opts: Options,
    /// Bearer tokens issued, with their expiry, per vendor.
    pub tokens: Mutex<BTreeMap<String, (Vendor, Timestamp)>>,
    /// VCO rate limiting: requests in the current window and the penalty end.
    pub vco_limiter: Mutex<(Timestamp, u32, Option<Timestamp>)>,
    /// Where every listener ended up (set once all are bound).
    pub urls: std::sync::OnceLock<Urls>,
    /// Requests per vendor, and (with `journal`) each request and answer.
    pub journal: Journal,
    /// The faults in force (from [`Options::faults`], changeable at `POST /_sandbox/faults`).
    pub faults: Arc<faults::Faults>,
}

/// What the vendors were asked: counts always, exchanges when [`Options::journal`] is on.
#[derive(Debug, Default)]
pub struct Journal {
    pub counts: Mutex<BTreeMap<Vendor, u64>>,
    pub exchanges: Mutex<Vec<Exchange>>,
}

/// One request to a simulated vendor and its answer (bodies as JSON when they are JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub vendor: Vendor,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub body: Json,
    /// The request's headers by lowercase name; values only for [`JOURNALED_HEADERS`], every
    /// other value (credentials among them) as `<redacted>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub answer: Json,
}

impl Journal {
    pub fn count(&self, vendor: Vendor) {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(vendor).or_default() += 1;
    }

    pub fn to_json(&self) -> Json {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let exchanges = self.exchanges.lock().unwrap_or_else(|p| p.into_inner()).clone();
        json!({"counts": counts, "exchanges": exchanges})
    }

    pub fn clear(&self) {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.exchanges.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Shared {
    pub fn now(&self) -> Timestamp {
        let offset = self.world.lock().unwrap_or_else(|p| p.into_inner()).clock_offset;
        Timestamp::now().checked_add(SignedDuration::from_secs(offset)).unwrap_or_else(|_| Timestamp::now())
    }

    /// Read the world (after settling).
    pub fn read<R>(&self, f: impl FnOnce(&World, Timestamp) -> R) -> R {
        self.mutate(|w, now| f(w, now))
    }

    /// Change the world (after settling); persisted when a state file is set.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut World, Timestamp) -> R) -> R {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let now = Timestamp::now()
            .checked_add(SignedDuration::from_secs(w.clock_offset))
            .unwrap_or_else(|_| Timestamp::now());
        w.settle(now, &self.opts);
        let r = f(&mut w, now);
        if let Some(path) = &self.opts.state_file {
            persist(path, &w);
        }
        r
    }

    pub fn issue_token(&self, vendor: Vendor, ttl: Duration) -> String {
        let token = format!("{}-{}", vendor, uuid::Uuid::new_v4().simple());
        let expires =
            self.now().checked_add(SignedDuration::try_from(ttl).unwrap_or_default()).unwrap_or_else(|_| self.now());
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone(), (vendor, expires));
        token
    }

    /// Whether `token` is a live token of `vendor`.
    pub fn token_valid(&self, vendor: Vendor, token: &str) -> bool {
        let now = self.now();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .is_some_and(|(v, exp)| *v == vendor && *exp > now)
    }

    /// Replace the world (reset).
    pub fn reset(&self) {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        *w = World::seeded();
        if let Some(path) = &self.opts.state_file {
            persist(path, &w);
        }
    }
}

fn persist(path: &std::path::Path, w: &World) {
    let tmp = path.with_extension("json.tmp");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match serde_json::to_vec(w) {
        Ok(bytes) => {
            if std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).is_err() {
                tracing::warn!("sandbox: could not save its state to {}", path.display());
            }
        }
        Err(e) => tracing::warn!("sandbox: could not serialize its state: {e}"),
    }
}

/// Load a persisted world, or a fresh one.
pub fn load_world(path: Option<&std::path::Path>) -> Result<World, String> {
    match path {
        Some(p) if p.exists() => {
            let bytes = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            serde_json::from_slice(&bytes).map_err(|e| format!("{} is not sandbox state: {e}", p.display()))
        }
        _ => Ok(World::seeded()),
    }
}

/// Where each simulator listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Urls {
    pub veeam: String,
    pub datto: String,
    pub velocloud: String,
    pub acronis: String,
    pub watchguard: String,
    pub avepoint: String,
    pub avepoint_identity: String,
    pub admin: String,
}

/// A running sandbox.
pub struct Sandbox {
    pub urls: Urls,
    pub shared: Arc<Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Start every listener on 127.0.0.1.
    pub async fn start(opts: Options) -> Result<Sandbox, String> {
        let world = load_world(opts.state_file.as_deref())?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            opts: opts.clone(),
            tokens: Mutex::new(BTreeMap::new()),
            vco_limiter: Mutex::new((Timestamp::UNIX_EPOCH, 0, None)),
            urls: std::sync::OnceLock::new(),
            journal: Journal::default(),
            faults: Arc::new(faults::Faults::new(opts.faults.clone())),
        });
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut servers = Vec::new();
        let mut url_of = BTreeMap::new();
        let listeners: Vec<(&str, Option<Vendor>, Router)> = vec![
            ("veeam", Some(Vendor::Veeam), veeam::router(shared.clone())),
            ("datto", Some(Vendor::Datto), datto::router(shared.clone())),
            ("velocloud", Some(Vendor::Velocloud), velocloud::router(shared.clone())),
            ("acronis", Some(Vendor::Acronis), acronis::router(shared.clone())),
            ("watchguard", Some(Vendor::Watchguard), watchguard::router(shared.clone())),
            ("avepoint", Some(Vendor::Avepoint), avepoint::router(shared.clone())),
            ("avepoint-identity", Some(Vendor::Avepoint), avepoint::identity_router(shared.clone())),
            ("admin", None, admin::router(shared.clone())),
        ];
        for (name, vendor, router) in listeners {
            let router = match vendor {
                Some(v) => vendor_layers(router, v, &opts, shared.clone()),
                None => router,
            };
            let port = opts.ports.get(name).copied().unwrap_or(0);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1:{port} for the {name} simulator: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            url_of.insert(name, format!("http://{addr}"));
            let mut rx = rx.clone();
            servers.push(tokio::spawn(async move {
                let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                });
                if let Err(e) = serve.await {
                    tracing::error!("sandbox {name} simulator stopped: {e}");
                }
            }));
        }
        let u = |n: &str| url_of.get(n).cloned().unwrap_or_default();
        let urls = Urls {
            veeam: format!("{}/api/v3", u("veeam")),
            datto: format!("{}/v1", u("datto")),
            velocloud: format!("{}/portal/rest", u("velocloud")),
            acronis: format!("{}/api/2", u("acronis")),
            watchguard: u("watchguard"),
            avepoint: u("avepoint"),
            avepoint_identity: u("avepoint-identity"),
            admin: u("admin"),
        };
        let _ = shared.urls.set(urls.clone());
        Ok(Sandbox { urls, shared, shutdown: tx, servers })
    }

    /// Every vendor object as JSON.
    pub fn dump(&self) -> Json {
        self.shared.read(|w, _| w.dump())
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for s in self.servers {
            let _ = s.await;
        }
    }

    /// Connections to this sandbox, and the secrets they reference (for [`crate::secrets::Secrets`]).
    pub fn connections(&self) -> (BTreeMap<Vendor, Connection>, BTreeMap<String, String>) {
        connections(&self.urls, &self.shared.opts)
    }
}

/// Connections for a sandbox at `urls`: credential references `env:TENANTRY_SANDBOX_*`, with the
/// values to resolve them to.
pub fn connections(urls: &Urls, opts: &Options) -> (BTreeMap<Vendor, Connection>, BTreeMap<String, String>) {
    use credentials::*;
    let env = |n: &str| SecretRef::Env(format!("TENANTRY_SANDBOX_{n}"));
    let limits = Limits {
        requests_per_second: 200,
        burst: 200,
        concurrency: 4,
        timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let mut c = BTreeMap::new();
    let mut conn = |vendor, base: &str, principal: Option<&str>, secrets: Vec<(&str, &str)>, home: Option<&str>| {
        c.insert(
            vendor,
            Connection {
                vendor,
                base_url: base.to_string(),
                identity_url: (vendor == Vendor::Avepoint).then(|| urls.avepoint_identity.clone()),
                principal: principal.map(str::to_string),
                secrets: secrets.into_iter().map(|(role, name)| (role.to_string(), env(name))).collect(),
                home: home.map(str::to_string),
                ids: if vendor == Vendor::Velocloud {
                    velocloud::LICENSES.iter().map(|(id, name)| (format!("license:{name}"), id.to_string())).collect()
                } else {
                    BTreeMap::new()
                },
                limits: Limits { penalty: Some(opts.vco_penalty), ..limits },
            },
        );
    };
    conn(Vendor::Veeam, &urls.veeam, Some(VEEAM_USER), vec![("password", "VEEAM_PASSWORD")], None);
    conn(
        Vendor::Datto,
        &urls.datto,
        None,
        vec![("publicKey", "DATTO_PUBLIC_KEY"), ("secretKey", "DATTO_SECRET_KEY")],
        None,
    );
    conn(Vendor::Velocloud, &urls.velocloud, None, vec![("token", "VCO_TOKEN")], None);
    conn(
        Vendor::Acronis,
        &urls.acronis,
        Some(ACRONIS_CLIENT),
        vec![("clientSecret", "ACRONIS_CLIENT_SECRET")],
        Some(ACRONIS_HOME),
    );
    conn(
        Vendor::Watchguard,
        &urls.watchguard,
        Some(WG_ACCESS),
        vec![("password", "WATCHGUARD_PASSWORD"), ("apiKey", "WATCHGUARD_API_KEY")],
        Some(WG_HOME),
    );
    conn(
        Vendor::Avepoint,
        &urls.avepoint,
        Some(AVEPOINT_CLIENT),
        vec![("clientSecret", "AVEPOINT_CLIENT_SECRET")],
        None,
    );
    let values = [
        ("VEEAM_PASSWORD", VEEAM_PASSWORD),
        ("DATTO_PUBLIC_KEY", DATTO_PUBLIC),
        ("DATTO_SECRET_KEY", DATTO_SECRET),
        ("VCO_TOKEN", VCO_TOKEN),
        ("ACRONIS_CLIENT_SECRET", ACRONIS_SECRET),
        ("WATCHGUARD_PASSWORD", WG_PASSWORD),
        ("WATCHGUARD_API_KEY", WG_API_KEY),
        ("AVEPOINT_CLIENT_SECRET", AVEPOINT_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (format!("env:TENANTRY_SANDBOX_{k}"), v.to_string()))
    .collect();
    (c, values)
}

/// Request headers whose values the journal keeps (none of them carries a credential).
pub const JOURNALED_HEADERS: &[&str] = &["accept", "content-type", "x-request-id", "x-client-version"];

/// Wrap a vendor router in the fault layer, and the journal outside it (a faulted request was
/// still made).
fn vendor_layers(router: Router, vendor: Vendor, opts: &Options, shared: Arc<Shared>) -> Router {
    let dice = Arc::new(faults::Dice::shared(opts.seed, vendor, shared.faults.clone(), opts.latency));
    router
        .layer(axum::middleware::from_fn_with_state((dice, vendor, opts.throttle_wait), fault_layer))
        .layer(axum::middleware::from_fn_with_state((shared, vendor), journal_layer))
}

async fn journal_layer(State((shared, vendor)): State<(Arc<Shared>, Vendor)>, req: Request, next: Next) -> Response {
    shared.journal.count(vendor);
    if !shared.opts.journal {
        return next.run(req).await;
    }
    const LIMIT: usize = 16 << 20;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large for the journal").into_response();
    };
    let mut exchange = Exchange {
        vendor,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        body: as_json(&bytes),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let name = name.as_str().to_string();
                let value = match JOURNALED_HEADERS.contains(&name.as_str()) {
                    true => value.to_str().unwrap_or("<not text>").to_string(),
                    false => "<redacted>".to_string(),
                };
                (name, value)
            })
            .collect(),
        status: 0,
        answer: Json::Null,
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = response.into_parts();
    let response = match axum::body::to_bytes(body, LIMIT).await {
        Ok(bytes) => {
            exchange.answer = as_json(&bytes);
            Response::from_parts(parts.clone(), Body::from(bytes))
        }
        // The answer was cut off on purpose (a dropped connection): cut it off again.
        Err(_) => dropped(),
    };
    exchange.status = parts.status.as_u16();
    shared.journal.exchanges.lock().unwrap_or_else(|p| p.into_inner()).push(exchange);
    response
}

fn as_json(bytes: &[u8]) -> Json {
    if bytes.is_empty() {
        return Json::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| Json::String(String::from_utf8_lossy(bytes).into_owned()))
}

async fn fault_layer(
    State((dice, vendor, wait)): State<(Arc<faults::Dice>, Vendor, u64)>,
    req: Request,
    next: Next,
) -> Response {
    // A cursor an answer fault made up is answered here: the vendor never issued it.
    if let Some(page) = made_up_cursor(&dice, req.uri().query()) {
        return axum::Json(page).into_response();
    }
    if is_write(vendor, req.method(), req.uri().path()) && dice.faults.take_write(vendor) {
        let _committed = next.run(req).await;
        return dropped();
    }
    let (delay, decision) = dice.roll();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match decision {
        faults::Decision::Pass => next.run(req).await,
        faults::Decision::ServerError => server_error(vendor),
        faults::Decision::Throttle => throttled(vendor, wait),
        faults::Decision::Drop => dropped(),
        faults::Decision::Lose => {
            let _committed = next.run(req).await;
            dropped()
        }
        answer_fault => {
            if req.uri().path().ends_with("/token") {
                return next.run(req).await;
            }
            let response = next.run(req).await;
            corrupt(&dice, vendor, answer_fault, response).await
        }
    }
}

/// The cursors answer faults make up (`cursor` repeats one, `endless` counts up).
const REPEATED_CURSOR: &str = "sandbox-fault-repeated-cursor";
const ENDLESS_CURSOR: &str = "sandbox-fault-endless-";

/// The page to answer for a cursor an answer fault made up, if the request carries one.
fn made_up_cursor(dice: &faults::Dice, query: Option<&str>) -> Option<Json> {
    let after = query?.split('&').find_map(|kv| kv.strip_prefix("after="))?;
    let next = if after == REPEATED_CURSOR {
        REPEATED_CURSOR.to_string()
    } else if after.starts_with(ENDLESS_CURSOR) {
        endless_cursor(dice)
    } else {
        return None;
    };
    Some(json!({"items": [], "paging": {"cursors": {"after": next}}}))
}

fn endless_cursor(dice: &faults::Dice) -> String {
    let n = dice.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{ENDLESS_CURSOR}{n}")
}

/// Whether a request may change something at the vendor (reads sent as POST are not writes:
/// AvePoint's batch lists, the VCO's `get…` methods; nor are token requests).
fn is_write(vendor: Vendor, method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || path.ends_with("/token") {
        return false;
    }
    match vendor {
        Vendor::Avepoint => !path.ends_with("/batch"),
        Vendor::Velocloud => !path.rsplit('/').next().is_some_and(|m| m.starts_with("get")),
        _ => true,
    }
}

/// The id fields `missing` strips from list records.
const ID_FIELDS: &[&str] = &["id", "instanceUid", "saasCustomerId", "accountId", "customerId", "userName", "remoteId"];

/// Apply an answer fault to a handled request's answer (a successful one; errors pass).
async fn corrupt(dice: &faults::Dice, vendor: Vendor, fault: faults::Decision, response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else { return dropped() };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    if fault == faults::Decision::Malformed {
        parts.headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/html"));
        let page =
            "<html><head><title>502 Bad Gateway</title></head><body>sandbox fault: malformed answer</body></html>";
        return Response::from_parts(parts, Body::from(page));
    }
    let Ok(mut j) = serde_json::from_slice::<Json>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    match (fault, vendor) {
        (faults::Decision::Missing, _) => {
            let key = ["data", "items", "result"].into_iter().find(|k| j.get(*k).is_some_and(Json::is_array));
            let records = match key {
                Some(k) => j.get_mut(k).and_then(Json::as_array_mut),
                None => j.as_array_mut(),
            };
            for r in records.into_iter().flatten().filter_map(Json::as_object_mut) {
                for f in ID_FIELDS {
                    r.remove(*f);
                }
            }
        }
        (faults::Decision::Cursor, Vendor::Acronis) => {
            if let Some(p) = j.get_mut("paging") {
                p["cursors"] = json!({"after": REPEATED_CURSOR});
            }
        }
        (faults::Decision::Endless, Vendor::Acronis) => {
            if let Some(p) = j.get_mut("paging") {
                p["cursors"] = json!({"after": endless_cursor(dice)});
            }
        }
        (faults::Decision::Endless, Vendor::Veeam | Vendor::Avepoint | Vendor::Watchguard) => {
            let total = match vendor {
                Vendor::Veeam => j.pointer_mut("/meta/pagingInfo/total"),
                Vendor::Avepoint => j.pointer_mut("/metadata/totalCount"),
                _ => j.pointer_mut("/totalItems"),
            };
            if let Some(t) = total {
                *t = json!(t.as_u64().unwrap_or(0) + 1000);
            }
        }
        _ => {}
    }
    Response::from_parts(parts, Body::from(serde_json::to_vec(&j).unwrap_or_default()))
}

/// A server error in the vendor's own shape (VSPC reports every 5xx as 520).
pub fn server_error(vendor: Vendor) -> Response {
    match vendor {
        Vendor::Veeam => (
            StatusCode::from_u16(520).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(json!({"errors": [{"message": "Internal server error (sandbox fault).", "type": "unspecified", "code": 500}]})),
        )
            .into_response(),
        Vendor::Datto => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"code": "exception.servererror", "message": "Internal Server Error"}))).into_response(),
        Vendor::Velocloud => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": {"code": -32603, "message": "Internal error (sandbox fault)"}}))).into_response(),
        Vendor::Acronis => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {"code": "InternalServerError", "domain": "PlatformAccountServer", "message": "Internal server error (sandbox fault)", "details": {"info": null}, "context": {}, "data": []}})),
        )
            .into_response(),
        Vendor::Watchguard | Vendor::Avepoint => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"message": "Service unavailable (sandbox fault)"}))).into_response(),
    }
}

/// Too many requests, in the vendor's own shape.
pub fn throttled(vendor: Vendor, retry_after: u64) -> Response {
    let mut r = match vendor {
        Vendor::Veeam => (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"errors": [{"type": "transport", "code": 429, "retryAfter": retry_after, "message": "Too many requests."}]}))).into_response(),
        Vendor::Datto => (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"code": "toomanyrequests", "message": "Too Many Requests"}))).into_response(),
        // The VCO documents a plain 429 and a fixed penalty.
        Vendor::Velocloud => StatusCode::TOO_MANY_REQUESTS.into_response(),
        _ => (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"message": "Too many requests"}))).into_response(),
    };
    if matches!(vendor, Vendor::Datto | Vendor::Acronis | Vendor::Watchguard | Vendor::Avepoint) {
        r.headers_mut().insert("retry-after", axum::http::HeaderValue::from(retry_after));
    }
    r
}

/// A response whose body fails: the client sees the connection drop mid-answer.
fn dropped() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox dropped the connection",
        ))
    });
    Response::new(Body::from_stream(stream))
}

/// `Authorization: Bearer <token>`.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")
}

/// `Authorization: Basic base64(user:password)`.
pub fn basic(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Time plus a duration.
/// One page of a listing: the records of `items` from `from`, at most `size` of them, made
/// into JSON (only the page's records are, so a list costs its page, not the whole estate),
/// and the number of records in the whole listing.
pub fn window<T>(
    items: impl Iterator<Item = T>,
    from: usize,
    size: usize,
    json: impl Fn(T) -> Json,
) -> (Vec<Json>, usize) {
    let (mut total, mut page) = (0, Vec::new());
    for item in items {
        if total >= from && page.len() < size {
            page.push(json(item));
        }
        total += 1;
    }
    (page, total)
}

pub fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or_default()).unwrap_or(t)
}

/// The VCO's timestamps: RFC 3339 in UTC with milliseconds (`2026-11-22T08:50:22.000Z`).
pub fn vco_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// RFC 3339 without zone, as several vendors print times.
pub fn plain_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}
