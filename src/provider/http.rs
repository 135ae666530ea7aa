//! The HTTP layer every vendor client shares: a rate limit per connection, a timeout per
//! request, retries with exponential backoff and jitter that honour `Retry-After` (and a vendor's
//! fixed penalty after a 429), credentials refreshed once on 401, and a tracing span per call
//! that names the method, path and status, never a header or body.
//!
//! Retries are safe by construction: a request that may already have changed something (a
//! non-idempotent POST that timed out, lost its answer or got a 5xx) is not sent again; it
//! comes back as [`ErrorKind::Unknown`] so the caller looks the object up first.
//!
//! Answers are read strictly: [`Resp::decode`] turns a success body into the vendor's wire type
//! or an [`ErrorKind::Unreadable`] error (vendor, request, what did not read, an excerpt unless it
//! is a token answer), and [`Pager`] refuses listings whose paging cannot be trusted. Only error
//! bodies are read loosely ([`Resp::error_json`]), to build messages.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::{BoxFut, ErrorKind, VendorError, describe_reqwest};
use crate::model::{Limits, Vendor};

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Json),
    Form(Vec<(String, String)>),
}

/// One request, described well enough to send it again.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    /// A path under the connection's base URL (`/tenants`), or an absolute URL (a `Location`).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub headers: Vec<(HeaderName, String)>,
    /// Safe to send twice: reads, PUT/DELETE, and creates carrying an idempotency key.
    pub idempotent: bool,
    /// Skip authentication (token endpoints).
    pub anonymous: bool,
    /// The answer holds a credential (a token, an authorization link): never quoted in a
    /// message. Always so for anonymous (token) requests.
    pub secret_answer: bool,
}

impl Req {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = matches!(method, Method::GET | Method::PUT | Method::DELETE | Method::HEAD);
        Req {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
            headers: Vec::new(),
            idempotent,
            anonymous: false,
            secret_answer: false,
        }
    }
    pub fn get(path: impl Into<String>) -> Self {
        Req::new(Method::GET, path)
    }
    pub fn post(path: impl Into<String>) -> Self {
        Req::new(Method::POST, path)
    }
    pub fn query(mut self, k: &str, v: impl ToString) -> Self {
        self.query.push((k.to_string(), v.to_string()));
        self
    }
    pub fn json(mut self, body: Json) -> Self {
        self.body = Body::Json(body);
        self
    }
    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.body = Body::Form(fields);
        self
    }
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// Mark as safe to repeat (a read sent as POST, or a create with an idempotency key).
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self.secret_answer = true;
        self
    }
    /// The answer holds a credential: an unreadable one is reported without an excerpt.
    pub fn secret_answer(mut self) -> Self {
        self.secret_answer = true;
        self
    }
    /// `POST /tenants`, for messages.
    pub fn describe(&self) -> String {
        let path = self
            .path
            .split_once("://")
            .map(|(_, rest)| rest.find('/').map_or(rest, |i| &rest[i..]))
            .unwrap_or(&self.path);
        format!("{} {}", self.method, path)
    }
}

/// An answer, with what it answered (for messages about it).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes_like::Bytes,
    pub vendor: Vendor,
    /// `GET /tenants`: method and path, never the query (it may carry secrets).
    pub request: String,
    /// The answer holds a credential (a token endpoint's, an authorization link): never quoted
    /// in a message.
    pub secret: bool,
}

mod bytes_like {
    pub type Bytes = Vec<u8>;
}

/// How much of an unreadable body a message quotes.
const EXCERPT: usize = 200;

impl Resp {
    /// The body as the wire type `T`: anything else (not JSON, a missing or mistyped field
    /// tenantry relies on) is an [`ErrorKind::Unreadable`] error naming the vendor, the request
    /// and what could not be read, with an excerpt of the body (none for token answers).
    /// Unknown extra fields are accepted: vendors add fields.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, VendorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            // serde's message may quote the offending value: never for an answer that holds a
            // credential.
            let detail = match self.secret {
                true => format!("line {} column {}", e.line(), e.column()),
                false => e.to_string(),
            };
            if e.is_syntax() || e.is_eof() {
                self.unreadable(&format!("it is not JSON ({detail})"))
            } else if self.secret {
                self.unreadable(&format!("it is not the documented shape ({detail})"))
            } else {
                self.unreadable(&detail)
            }
        })
    }

    /// An [`ErrorKind::Unreadable`] error about this answer: `what` could not be read.
    pub fn unreadable(&self, what: &str) -> VendorError {
        let mut message = format!("the answer (HTTP {}) could not be read: {what}", self.status.as_u16());
        if !self.secret {
            message.push_str(&format!("; it begins {}", excerpt(&self.body)));
        }
        VendorError::new(self.vendor, ErrorKind::Unreadable, &self.request, message)
    }

    /// The body as loose JSON (`Null` when it is not JSON), for building messages from error
    /// answers, where a missing message is fine. Never for answers tenantry acts on: those go
    /// through [`Resp::decode`].
    pub fn error_json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or(Json::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The first [`EXCERPT`] characters of a body in backquotes, control characters as spaces.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(EXCERPT).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > EXCERPT {
        out.push('…');
    }
    // Backquotes would end the code span the excerpt is quoted in (messages reach Markdown
    // plans posted as comments): shown as apostrophes.
    let out = out.replace('`', "'");
    if out.trim().is_empty() { "empty".into() } else { format!("`{out}`") }
}

/// The most pages one listing may take. Far beyond any real partner (Acronis pages hold
/// thousands of tenants), and it ends a listing that would otherwise never end.
pub const PAGE_CAP: usize = 500;

/// Guards one paged listing against answers that cannot be trusted: a cursor that repeats, more
/// pages than the total implies, an empty page before the total is reached, a listing past
/// [`PAGE_CAP`]. Each is an [`ErrorKind::Unreadable`] error: what was listed is incomplete, so
/// nothing may be concluded from it (an object missing from it is not "gone").
#[derive(Debug)]
pub struct Pager {
    vendor: Vendor,
    request: String,
    cap: usize,
    pages: usize,
    cursors: std::collections::HashSet<String>,
    /// The total the first page named: every page of one listing must name the same.
    total: Option<usize>,
}

impl Pager {
    pub fn new(vendor: Vendor, request: impl Into<String>) -> Self {
        Pager { vendor, request: request.into(), cap: PAGE_CAP, pages: 0, cursors: Default::default(), total: None }
    }

    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap;
        self
    }

    fn fail(&self, message: String) -> VendorError {
        VendorError::new(self.vendor, ErrorKind::Unreadable, &self.request, message)
    }

    /// Count a page about to be requested: an error past the cap.
    pub fn page(&mut self) -> Result<(), VendorError> {
        self.pages += 1;
        if self.pages > self.cap {
            return Err(self.fail(format!("the listing did not end after {} pages; stopped reading it", self.cap)));
        }
        Ok(())
    }

    /// Refuse a listing of `pages` pages past the cap before any of them is requested.
    pub fn fits(&self, pages: usize) -> Result<(), VendorError> {
        if pages > self.cap {
            return Err(self.fail(format!(
                "the listing names {pages} pages, more than the {} read at most; stopped reading it",
                self.cap
            )));
        }
        Ok(())
    }

    /// A next-page cursor to follow: an error when it was given before (following it would
    /// repeat pages forever).
    pub fn cursor(&mut self, after: &str) -> Result<(), VendorError> {
        if !self.cursors.insert(after.to_string()) {
            return Err(self.fail(format!(
                "the paging cursor repeats after {} pages (`paging.cursors.after` was given before); stopped reading it",
                self.pages
            )));
        }
        Ok(())
    }

    /// After a page of an offset- or index-paged listing: whether more pages follow. `so_far`
    /// counts the records read including this page's `count`; `total` is what the page says
    /// the listing holds, `size` the page size asked for.
    pub fn counted(&mut self, so_far: usize, count: usize, total: usize, size: usize) -> Result<bool, VendorError> {
        // Objects added or removed while the pages were read shift records across page
        // boundaries: one may be read twice or never, and the counts can still add up.
        match self.total {
            Some(first) if first != total => {
                return Err(self.fail(format!(
                    "the total changed from {first} to {total} while the listing was read (page {}): objects changed meanwhile, so it may be incomplete",
                    self.pages
                )));
            }
            _ => self.total = Some(total),
        }
        let implied = total.div_ceil(size.max(1));
        if so_far > total || self.pages > implied.max(1) {
            return Err(self.fail(format!(
                "page {} brings {so_far} records, more than the total of {total} the answer names ({implied} pages)",
                self.pages
            )));
        }
        if count == 0 && so_far < total {
            return Err(self.fail(format!(
                "page {} is empty, but the answer names a total of {total} and {so_far} were read",
                self.pages
            )));
        }
        Ok(so_far < total)
    }

    /// An answer that holds the whole listing at once (`limit=-1`) must hold exactly the total
    /// it names.
    pub fn whole(&self, count: usize, total: usize) -> Result<(), VendorError> {
        if count != total {
            return Err(self
                .fail(format!("the answer holds {count} records but names a total of {total} (all were asked for)")));
        }
        Ok(())
    }
}

/// A reqwest client builder with the TLS provider installed. reqwest is built without a default
/// provider (ring instead of aws-lc-rs keeps the C build light), so every client starts here.
pub fn client_builder() -> reqwest::ClientBuilder {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Fails only when a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// How a vendor authenticates.
pub trait Auth: Send + Sync {
    /// Headers to add to a request (fetching a token first when needed).
    fn headers<'a>(&'a self, http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>>;
    /// The vendor refused the credentials it was `sent` (401): forget that token if it is still
    /// the cached one (a concurrent call may have renewed it already), and say whether there
    /// is anything to renew. Fixed credentials (API keys, a static token) have nothing: the
    /// 401 is final.
    fn invalidate(&self, _sent: &[(HeaderName, HeaderValue)]) -> bool {
        false
    }
    /// What to check when the credentials are refused (the settings in `tenantry.yaml`).
    fn refused_hint(&self) -> String;
}

/// An HTTP connection to one vendor.
pub struct Http {
    pub vendor: Vendor,
    base: String,
    client: reqwest::Client,
    limiter: DefaultDirectRateLimiter,
    /// After a 429 without a wait named, nobody sends until this passes.
    penalty_until: Mutex<Option<Instant>>,
    penalty: Duration,
    max_attempts: usize,
    min_backoff: Duration,
    /// See [`Limits::retry_budget`].
    retry_budget: Duration,
    connect_timeout: Duration,
    /// See [`Limits::max_retry_after`].
    max_retry_after: Duration,
    /// Recognises a 5xx answer that is a definitive refusal, not a failure (the VCO answers
    /// business errors with 500 and a JSON-RPC error): handed to the client, not retried.
    refusal: Option<fn(&Resp) -> bool>,
    /// Requests in flight at once for per-object reads (the connection's `concurrency`).
    concurrency: usize,
}

/// An attempt's failure, with what retrying needs to know.
#[derive(Debug)]
struct Attempt {
    error: VendorError,
    retry: bool,
    wait: Option<Duration>,
    /// It never connected (so the next attempt may take a whole connect timeout again).
    connect: bool,
}

impl Http {
    pub fn new(vendor: Vendor, base: &str, limits: &Limits) -> Result<Self, VendorError> {
        let client = client_builder()
            .timeout(limits.timeout)
            .connect_timeout(limits.connect_timeout)
            .user_agent(concat!("tenantry/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| VendorError::new(vendor, ErrorKind::Rejected, "HTTP client", describe_reqwest(&e)))?;
        let rps = NonZeroU32::new(limits.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let penalty = limits.penalty.unwrap_or(match vendor {
            Vendor::Velocloud => Duration::from_secs(5),
            _ => Duration::from_secs(1),
        });
        Ok(Http {
            vendor,
            base: base.trim_end_matches('/').to_string(),
            client,
            limiter: RateLimiter::direct(Quota::per_second(rps).allow_burst(burst)),
            penalty_until: Mutex::new(None),
            penalty,
            max_attempts: 5,
            min_backoff: Duration::from_millis(200),
            retry_budget: limits.retry_budget,
            connect_timeout: limits.connect_timeout,
            max_retry_after: limits.max_retry_after,
            refusal: None,
            concurrency: limits.concurrency.max(1) as usize,
        })
    }

    /// Run `read` for every item, the connection's `concurrency` at a time; the first error
    /// ends it. The answers come in the items' order. For the reads a vendor offers only one
    /// object at a time.
    pub async fn each<I, T, F, Fut>(&self, items: I, read: F) -> Result<Vec<T>, VendorError>
    where
        I: IntoIterator,
        F: FnMut(I::Item) -> Fut,
        Fut: std::future::Future<Output = Result<T, VendorError>>,
    {
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(items).map(read).buffered(self.concurrency).try_collect().await
    }

    /// Every record of an offset- or index-paged listing: the first page names the total, and
    /// the pages after it are read the connection's `concurrency` at a time (they do not
    /// depend on one another). `fetch(page, step)` reads page `page` (from 0) of `step`
    /// records and answers its records and the total it names; `step` is the first page's
    /// length, so a vendor that serves smaller pages than asked for is followed. Every page
    /// must name the same total and hold a full page (the last one the rest): anything else
    /// means the listing moved while it was read, an [`ErrorKind::Unreadable`] error.
    pub async fn pages<T, F, Fut>(&self, mut pager: Pager, fetch: F) -> Result<Vec<T>, VendorError>
    where
        F: Fn(usize, usize) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, usize), VendorError>>,
    {
        pager.page()?;
        let (mut out, total) = fetch(0, 0).await?;
        let step = out.len();
        if !pager.counted(step, step, total, step.max(1))? {
            return Ok(out);
        }
        let pages = total.div_ceil(step);
        // A total past the cap is refused before its pages are asked for.
        pager.fits(pages)?;
        let fetch_page = |i| fetch(i, step);
        let rest = self.each(1..pages, fetch_page).await?;
        for (i, (items, total)) in (1..pages).zip(rest) {
            pager.page()?;
            let expected = if i + 1 == pages { total.saturating_sub(i * step) } else { step };
            let count = items.len();
            out.extend(items);
            pager.counted(out.len(), count, total, step)?;
            if count != expected {
                return Err(pager.fail(format!(
                    "page {} holds {count} records where {expected} were due (pages of {step}, a total of {total}): objects changed meanwhile, so it may be incomplete",
                    i + 1
                )));
            }
        }
        Ok(out)
    }

    /// Treat 5xx answers that `refusal` recognises as the vendor's definitive answer.
    pub fn with_refusals(mut self, refusal: fn(&Resp) -> bool) -> Self {
        self.refusal = Some(refusal);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL for `path`: under the connection's base URL, or an absolute URL a vendor named
    /// (a `Location`). An absolute URL on another scheme, host or port than the base is taken
    /// for its path only, against the base: credentials go only where `baseUrl` says (a console
    /// behind a proxy may name its internal address), never in clear text to a host it named.
    pub fn url(&self, path: &str) -> String {
        if !(path.starts_with("http://") || path.starts_with("https://")) {
            return format!("{}{path}", self.base);
        }
        match (reqwest::Url::parse(path), reqwest::Url::parse(&self.base)) {
            (Ok(named), Ok(base)) if named.origin() == base.origin() => path.to_string(),
            (Ok(named), Ok(base)) => {
                let mut local = base.clone();
                local.set_path(named.path());
                local.set_query(named.query());
                tracing::debug!(vendor = %self.vendor, "the vendor named {}; asking {} instead", named.origin().ascii_serialization(), base.origin().ascii_serialization());
                local.to_string()
            }
            // Not a URL after all: never sent anywhere but the base.
            _ => format!("{}/{}", self.base, path.rsplit('/').next().unwrap_or_default()),
        }
    }

    /// Send with retries. Any status comes back as a [`Resp`]; only transport failures and
    /// exhausted retries are errors.
    pub async fn send(&self, req: &Req, auth: Option<&dyn Auth>) -> Result<Resp, VendorError> {
        let attempt = || async { self.attempt(req, auth).await };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(Duration::from_secs(15))
            .with_max_times(self.max_attempts - 1)
            .with_jitter();
        // A refused token is renewed once per request: a second 401 with a fresh token is the
        // vendor's answer, final for this request (and, through the error, for the run).
        let mut refusals = 0;
        let started = Instant::now();
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let out_of_budget = std::sync::atomic::AtomicBool::new(false);
        let attempt = || {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            attempt()
        };
        attempt
            .retry(backoff)
            .when(|a: &Attempt| {
                if a.error.kind == ErrorKind::Auth {
                    refusals += 1;
                }
                a.retry && refusals < 2
            })
            // backon hands `None` once the attempts are used up; only then does it stop. The
            // vendor's named wait replaces the backoff, never the end of the budget.
            // A failure is retried only within the request's budget; a wait the vendor named is
            // bounded by the attempts and `max_retry_after` instead.
            .adjust(|a: &Attempt, d| {
                let d = d.map(|d| a.wait.unwrap_or(d))?;
                let connecting = if a.connect { self.connect_timeout } else { Duration::ZERO };
                if a.wait.is_none() && started.elapsed() + d + connecting > self.retry_budget {
                    out_of_budget.store(true, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
                Some(d)
            })
            .notify(|a: &Attempt, d| {
                super::telemetry::retried(self.vendor);
                // A long wait is shown at the default verbosity: the run is waiting, not stalled.
                if d >= VISIBLE_WAIT {
                    tracing::warn!(vendor = %self.vendor, "{}; retrying in {}s", a.error, d.as_secs());
                } else {
                    tracing::info!(vendor = %self.vendor, "{}; retrying in {:?}", a.error, d);
                }
            })
            .await
            .map_err(|a| {
                let mut error = a.error;
                if out_of_budget.load(std::sync::atomic::Ordering::Relaxed) {
                    let n = tries.load(std::sync::atomic::Ordering::Relaxed);
                    error.message.push_str(&format!(
                        " (gave up after {n} attempt{} in {:.1}s: connections.{}.limits.retryBudget is {})",
                        if n == 1 { "" } else { "s" },
                        started.elapsed().as_secs_f64(),
                        self.vendor,
                        crate::model::format_duration(self.retry_budget)
                    ));
                }
                error
            })
    }

    /// Send once, without retrying and without authentication: for token requests, whose
    /// retries belong to the request that needed the token.
    pub async fn send_once(&self, req: &Req) -> Result<Resp, VendorError> {
        self.attempt(req, None).await.map_err(|a| a.error)
    }

    async fn attempt(&self, req: &Req, auth: Option<&dyn Auth>) -> Result<Resp, Attempt> {
        // Respect a penalty window before sending anything.
        let wait = {
            self.penalty_until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .and_then(|t| t.checked_duration_since(Instant::now()))
        };
        if let Some(w) = wait {
            if w >= VISIBLE_WAIT {
                tracing::warn!(vendor = %self.vendor, "throttled: waiting {}s before {}", w.as_secs(), req.describe());
            }
            tokio::time::sleep(w).await;
        }
        self.limiter.until_ready().await;
        let op = req.describe();
        let fail = |kind: ErrorKind, message: String, retry: bool, wait: Option<Duration>| Attempt {
            error: VendorError::new(self.vendor, kind, &op, message),
            retry,
            wait,
            connect: false,
        };
        let mut builder = self.client.request(req.method.clone(), self.url(&req.path)).query(&req.query);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let mut credentials = Vec::new();
        if let (false, Some(a)) = (req.anonymous, auth) {
            let headers = a.headers(self).await.map_err(|e| Attempt {
                retry: e.kind == ErrorKind::Retryable,
                wait: None,
                connect: false,
                error: e,
            })?;
            for (k, v) in &headers {
                builder = builder.header(k, v);
            }
            credentials = headers;
        }
        builder = match &req.body {
            Body::None => builder,
            Body::Json(j) => builder.json(j),
            Body::Form(f) => builder.form(f),
        };
        let started = Instant::now();
        let sent = builder.send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                super::telemetry::answered(self.vendor, None, started.elapsed().as_secs_f64());
                let text = describe_reqwest(&e);
                tracing::debug!(vendor = %self.vendor, "{op}: {text}");
                // Never connected: nothing reached the vendor, so trying again is safe. Say
                // where it tried and which setting names that place.
                if e.is_connect() {
                    let url = self.url(&req.path);
                    let host = reqwest::Url::parse(&url)
                        .ok()
                        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
                        .unwrap_or(url);
                    let mut failed = fail(ErrorKind::Retryable, format!("{text} to {host}"), true, None);
                    failed.connect = true;
                    failed.error.hint = Some(format!(
                        "check connections.{}.baseUrl in tenantry.yaml ({}) and that {host} can be reached from here",
                        self.vendor, self.base
                    ));
                    return Err(failed);
                }
                return Err(if req.idempotent {
                    fail(ErrorKind::Retryable, text, true, None)
                } else {
                    fail(
                        ErrorKind::Unknown,
                        format!("{text}; the vendor may or may not have carried it out"),
                        false,
                        None,
                    )
                });
            }
        };
        let status = response.status();
        super::telemetry::answered(self.vendor, Some(status.as_u16()), started.elapsed().as_secs_f64());
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                let text = format!("the answer was cut off ({})", describe_reqwest(&e));
                return Err(if req.idempotent {
                    fail(ErrorKind::Retryable, text, true, None)
                } else {
                    fail(
                        ErrorKind::Unknown,
                        format!("{text}; the vendor may or may not have carried it out"),
                        false,
                        None,
                    )
                });
            }
        };
        tracing::debug!(vendor = %self.vendor, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "{op}");
        let resp = Resp { status, headers, body, vendor: self.vendor, request: op.clone(), secret: req.secret_answer };
        if status == StatusCode::UNAUTHORIZED
            && !req.anonymous
            && let Some(a) = auth
        {
            // A token is renewed once (see `send`); refused fixed credentials are final.
            let renew = a.invalidate(&credentials);
            let message = match renew {
                true => "the credentials were refused (401); fetching a new token",
                false => "the credentials were refused (401)",
            };
            let mut refused = fail(ErrorKind::Auth, message.into(), renew, Some(Duration::ZERO));
            refused.error.hint = Some(a.refused_hint());
            return Err(refused);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            super::telemetry::throttled(self.vendor);
            let wait = retry_after(&resp, self.max_retry_after).unwrap_or(self.penalty);
            *self.penalty_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + wait);
            // A throttled request was not processed: always safe to send again.
            return Err(fail(ErrorKind::Retryable, "throttled (429)".to_string(), true, Some(wait)));
        }
        if status.is_server_error() && !self.refusal.is_some_and(|r| r(&resp)) {
            let text = format!("the vendor failed ({}){}", status.as_u16(), summary(&resp));
            return Err(if req.idempotent {
                fail(ErrorKind::Retryable, text, true, None)
            } else {
                fail(ErrorKind::Unknown, format!("{text}; it may or may not have been carried out"), false, None)
            });
        }
        Ok(resp)
    }
}

/// Waits at least this long are shown on stderr at the default verbosity, so a run that waits
/// (throttled, polling) never looks stalled.
pub const VISIBLE_WAIT: Duration = Duration::from_secs(2);

/// Look at something a vendor finishes later (an asynchronous action, a transaction) until it
/// has: `look` answers `Some` once it finished and `None` while it still runs. backon spaces
/// the looks by `backoff` and calls `waiting` before each pause; `Ok(None)` when the looks are
/// used up first. An error ends it at once: a look that failed is not "still running".
pub async fn poll_until<T, F, Fut>(
    backoff: ExponentialBuilder,
    mut look: F,
    waiting: impl Fn(Duration),
) -> Result<Option<T>, VendorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, VendorError>>,
{
    enum Look {
        Running,
        Failed(VendorError),
    }
    let once = || {
        let answer = look();
        async move {
            match answer.await {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err(Look::Running),
                Err(e) => Err(Look::Failed(e)),
            }
        }
    };
    let looked = once.retry(backoff).when(|l: &Look| matches!(l, Look::Running)).notify(|_: &Look, d| waiting(d)).await;
    match looked {
        Ok(t) => Ok(Some(t)),
        Err(Look::Running) => Ok(None),
        Err(Look::Failed(e)) => Err(e),
    }
}

/// The wait a 429 names: `Retry-After` in either form (delay-seconds or an HTTP-date,
/// RFC 9110 10.2.3), or VSPC's `errors[].retryAfter`; capped at `cap` (the connection's
/// `limits.maxRetryAfter`, 60 s by default), so a vendor asking for an hour cannot hold the run,
/// and its lock, for an hour: past the cap the request is tried again anyway.
fn retry_after(resp: &Resp, cap: Duration) -> Option<Duration> {
    let named = match resp.header("retry-after") {
        Some(v) => parse_retry_after(v, std::time::SystemTime::now()),
        None => resp.error_json().pointer("/errors/0/retryAfter").and_then(Json::as_u64).map(Duration::from_secs),
    };
    named.map(|d| d.min(cap))
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (a date in the past is no
/// wait), as of `now`.
fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(s) = value.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A short excerpt of an error body's message, if there is one.
fn summary(resp: &Resp) -> String {
    // An answer that may hold a credential is never quoted, error or not.
    if resp.secret {
        return String::new();
    }
    let j = resp.error_json();
    let msg = j
        .pointer("/errors/0/message")
        .or_else(|| j.pointer("/error/message"))
        .or_else(|| j.get("message"))
        .and_then(Json::as_str);
    msg.map(|m| format!(": {m}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks until done; none past the budget; an error at once, never taken as "running".
    #[tokio::test]
    async fn poll_until_looks_until_done_within_its_looks_and_stops_at_an_error() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let fast = || ExponentialBuilder::new().with_min_delay(Duration::from_millis(1)).with_max_times(4);
        let looks = AtomicUsize::new(0);
        let waits = AtomicUsize::new(0);
        let done_at_third = || async {
            let n = looks.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((n == 3).then_some(n))
        };
        let r = poll_until(fast(), done_at_third, |_| {
            waits.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(r.unwrap(), Some(3));
        assert_eq!(waits.load(Ordering::SeqCst), 2, "a pause before each look but the first");

        looks.store(0, Ordering::SeqCst);
        let never = || async {
            looks.fetch_add(1, Ordering::SeqCst);
            Ok(None::<()>)
        };
        assert_eq!(poll_until(fast(), never, |_| {}).await.unwrap(), None);
        assert_eq!(looks.load(Ordering::SeqCst), 5, "the first look and four more");

        looks.store(0, Ordering::SeqCst);
        let one = ExponentialBuilder::new().without_max_times().with_total_delay(Some(Duration::ZERO));
        assert_eq!(poll_until(one, never, |_| {}).await.unwrap(), None);
        assert_eq!(looks.load(Ordering::SeqCst), 1, "no time to wait: one look");

        looks.store(0, Ordering::SeqCst);
        let failing = || async {
            looks.fetch_add(1, Ordering::SeqCst);
            Err::<Option<()>, _>(VendorError::new(Vendor::Veeam, ErrorKind::Unknown, "GET /x", "unreadable"))
        };
        let e = poll_until(fast(), failing, |_| {}).await.unwrap_err();
        assert_eq!((e.kind, looks.load(Ordering::SeqCst)), (ErrorKind::Unknown, 1), "{e}");
    }

    /// A vendor that answers every request with 429 and a wait: the named wait replaces the
    /// backoff, but the request's attempts stay five.
    #[tokio::test]
    async fn a_request_that_is_always_throttled_stops_after_its_attempts() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static HITS: AtomicUsize = AtomicUsize::new(0);
        let app = axum::Router::new().route(
            "/x",
            axum::routing::get(|| async {
                HITS.fetch_add(1, Ordering::SeqCst);
                (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down")
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let limits = Limits {
            requests_per_second: 1000,
            burst: 1000,
            concurrency: 1,
            timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let http = Http::new(Vendor::Datto, &base, &limits).unwrap();
        let sent = tokio::time::timeout(Duration::from_secs(30), http.send(&Req::get("/x"), None)).await;
        let e = sent.expect("the retries end").expect_err("throttled every time");
        assert_eq!(e.kind, ErrorKind::Retryable);
        assert_eq!(HITS.load(Ordering::SeqCst), 5);
    }

    /// A vendor that takes connections and never answers: each attempt times out, and the
    /// request gives up when its retry budget is spent, not after five timeouts and backoffs,
    /// saying which setting bounds it.
    #[tokio::test]
    async fn a_vendor_that_never_answers_fails_within_the_retry_budget() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket); // kept open, never answered
            }
        });
        let limits = Limits {
            requests_per_second: 1000,
            burst: 1000,
            timeout: Duration::from_millis(500),
            retry_budget: Duration::from_secs(2),
            ..Limits::default()
        };
        let http = Http::new(Vendor::Acronis, &base, &limits).unwrap();
        let started = Instant::now();
        let sent = tokio::time::timeout(Duration::from_secs(30), http.send(&Req::get("/x"), None)).await;
        let took = started.elapsed();
        let e = sent.expect("the retries end").expect_err("never answered");
        assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
        let tries = accepted.load(Ordering::SeqCst);
        // Five attempts of 500 ms with backoff between would take over 4 s.
        assert!((2..5).contains(&tries), "{tries} attempts");
        assert!(took < Duration::from_millis(3200), "took {took:?}");
        assert!(e.message.contains("connections.acronis.limits.retryBudget is 2s"), "{e}");
        assert!(e.message.contains(&format!("gave up after {tries} attempts")), "{e}");
    }

    #[test]
    fn absolute_urls_on_another_origin_are_asked_of_the_base() {
        let limits = Limits {
            requests_per_second: 10,
            burst: 10,
            concurrency: 1,
            timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let http = Http::new(Vendor::Veeam, "https://vspc.example:1280/api/v3", &limits).unwrap();
        assert_eq!(http.url("/companies"), "https://vspc.example:1280/api/v3/companies");
        let same = "https://vspc.example:1280/api/v3/asyncActions/1";
        assert_eq!(http.url(same), same);
        for other in [
            "http://vspc.example:1280/api/v3/asyncActions/1",
            "https://internal:1280/api/v3/asyncActions/1",
            "https://vspc.example:443/api/v3/asyncActions/1",
        ] {
            assert_eq!(http.url(other), "https://vspc.example:1280/api/v3/asyncActions/1", "{other}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_is_capped() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_000); // 2015-10-21 07:20:00 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(480)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO), "past: no wait");
        assert_eq!(parse_retry_after("soon", now), None);
        let throttled = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", HeaderValue::from_str(value).unwrap());
            Resp {
                status: StatusCode::TOO_MANY_REQUESTS,
                headers,
                body: Vec::new(),
                vendor: Vendor::Datto,
                request: "GET /x".into(),
                secret: false,
            }
        };
        let cap = Limits::DEFAULT_MAX_RETRY_AFTER;
        assert_eq!(retry_after(&throttled("3"), cap), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&throttled("86400"), cap), Some(cap), "an hour's ask waits the cap");
        assert_eq!(retry_after(&throttled("86400"), Duration::from_secs(5)), Some(Duration::from_secs(5)));
    }

    fn resp(body: &str, secret: bool) -> Resp {
        Resp {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            vendor: Vendor::Acronis,
            request: "GET /tenants".into(),
            secret,
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Item {
        #[allow(dead_code)]
        id: String,
    }

    #[test]
    fn a_repeated_cursor_stops_the_listing() {
        let mut p = Pager::new(Vendor::Acronis, "GET /tenants");
        p.page().unwrap();
        p.cursor("a").unwrap();
        p.page().unwrap();
        p.cursor("b").unwrap();
        p.page().unwrap();
        let e = p.cursor("a").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert_eq!(e.vendor, Vendor::Acronis);
        assert_eq!(e.operation, "GET /tenants");
        assert!(e.message.contains("cursor repeats after 3 pages"), "{e}");
    }

    /// A listing of `total` records served in pages of at most `serve` (whatever was asked),
    /// with `meddle` changing what page `i` answers.
    async fn list_pages(
        total: usize,
        serve: usize,
        meddle: impl Fn(usize, &mut Vec<usize>, &mut usize),
    ) -> (Result<Vec<usize>, VendorError>, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let http = Http::new(Vendor::Veeam, "http://127.0.0.1:9", &Limits::default()).unwrap();
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let records: Vec<usize> = (0..total).collect();
        let got = http
            .pages(Pager::new(Vendor::Veeam, "GET /x"), |page, step| {
                let (now, most, records, meddle) = (&now, &most, &records, &meddle);
                async move {
                    most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    let from = (page * step).min(total);
                    let mut items = records[from..(from + serve).min(total)].to_vec();
                    let mut named = total;
                    meddle(page, &mut items, &mut named);
                    Ok((items, named))
                }
            })
            .await;
        (got, most.into_inner())
    }

    /// The pages after the first are read side by side and come back whole and in order; a
    /// vendor serving smaller pages than asked is followed; a listing that moves while it is
    /// read is unreadable, never short.
    #[tokio::test]
    async fn pages_are_read_side_by_side_and_must_add_up() {
        let (got, most) = list_pages(1234, 100, |_, _, _| {}).await;
        assert_eq!(got.unwrap(), (0..1234).collect::<Vec<_>>());
        assert_eq!(most, Limits::default().concurrency as usize, "pages after the first are read concurrently");
        let (got, most) = list_pages(60, 100, |_, _, _| {}).await;
        assert_eq!((got.unwrap().len(), most), (60, 1));
        let (got, _) = list_pages(0, 100, |_, _, _| {}).await;
        assert!(got.unwrap().is_empty());

        let (got, _) = list_pages(1234, 100, |page, _, named| {
            if page == 7 {
                *named = 1235;
            }
        })
        .await;
        let e = got.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert!(e.message.contains("the total changed from 1234 to 1235 while the listing was read (page 8)"), "{e}");

        let (got, _) = list_pages(1234, 100, |page, items, _| {
            if page == 4 {
                items.pop();
            }
        })
        .await;
        let e = got.unwrap_err();
        assert!(e.message.contains("page 5 holds 99 records where 100 were due"), "{e}");

        let (got, _) = list_pages(1234, 100, |page, items, _| {
            if page == 12 {
                items.clear();
            }
        })
        .await;
        let e = got.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert!(e.message.contains("page 13 is empty"), "{e}");

        // A total past the cap is refused before its pages are asked for.
        let (got, most) = list_pages(100 * (PAGE_CAP + 1), 100, |_, _, _| {}).await;
        let e = got.unwrap_err();
        assert!(e.message.contains(&format!("names {} pages", PAGE_CAP + 1)), "{e}");
        assert_eq!(most, 1, "only the first page was read");
    }

    #[test]
    fn a_listing_past_the_page_cap_stops() {
        let mut p = Pager::new(Vendor::Acronis, "GET /users").with_cap(3);
        for i in 0..3 {
            p.page().unwrap();
            p.cursor(&format!("c{i}")).unwrap();
        }
        let e = p.page().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert!(e.message.contains("did not end after 3 pages"), "{e}");
        assert_eq!(Pager::new(Vendor::Veeam, "x").cap, PAGE_CAP);
    }

    #[test]
    fn counted_pages_must_agree_with_the_total() {
        // 250 records in pages of 100: three pages, the last one short.
        let mut p = Pager::new(Vendor::Veeam, "GET /organizations/companies");
        p.page().unwrap();
        assert!(p.counted(100, 100, 250, 100).unwrap());
        p.page().unwrap();
        assert!(p.counted(200, 100, 250, 100).unwrap());
        p.page().unwrap();
        assert!(!p.counted(250, 50, 250, 100).unwrap());

        // An empty page before the total is reached: records are missing.
        let mut p = Pager::new(Vendor::Avepoint, "POST /customers/batch");
        p.page().unwrap();
        assert!(p.counted(100, 100, 5000, 100).unwrap());
        p.page().unwrap();
        let e = p.counted(100, 0, 5000, 100).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert!(e.message.contains("page 2 is empty") && e.message.contains("total of 5000"), "{e}");

        // More records than the total names.
        let mut p = Pager::new(Vendor::Watchguard, "GET /children");
        p.page().unwrap();
        let e = p.counted(12, 12, 10, 100).unwrap_err();
        assert!(e.message.contains("more than the total of 10"), "{e}");

        // More pages than the total implies (a total that keeps moving).
        let mut p = Pager::new(Vendor::Veeam, "GET /pulse/tenants");
        p.page().unwrap();
        assert!(p.counted(10, 10, 20, 10).unwrap());
        p.page().unwrap();
        assert!(p.counted(15, 5, 20, 10).unwrap());
        p.page().unwrap();
        let e = p.counted(20, 5, 20, 10).unwrap_err();
        assert!(e.message.contains("(2 pages)"), "{e}");

        // A total that changes between pages: a record may have moved across a page
        // boundary unread, even though the counts add up.
        let mut p = Pager::new(Vendor::Veeam, "GET /organizations/companies");
        p.page().unwrap();
        assert!(p.counted(500, 500, 1000, 500).unwrap());
        p.page().unwrap();
        let e = p.counted(999, 499, 999, 500).unwrap_err();
        assert!(e.message.contains("the total changed from 1000 to 999"), "{e}");

        // A whole listing in one answer must hold its total.
        let p = Pager::new(Vendor::Watchguard, "GET /children");
        p.whole(3, 3).unwrap();
        let e = p.whole(3, 1003).unwrap_err();
        assert!(e.message.contains("holds 3 records but names a total of 1003"), "{e}");

        // An empty listing is one empty page.
        let mut p = Pager::new(Vendor::Veeam, "GET /pulse/tenants");
        p.page().unwrap();
        assert!(!p.counted(0, 0, 0, 500).unwrap());
    }

    #[test]
    fn an_unreadable_answer_names_the_request_and_quotes_the_body_except_for_tokens() {
        let e = resp("<html>gateway</html>", false).decode::<Vec<Item>>().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert_eq!(e.operation, "GET /tenants");
        assert!(e.message.contains("could not be read: it is not JSON"), "{e}");
        assert!(e.message.contains("it begins `<html>gateway</html>`"), "{e}");

        let e = resp(r#"[{"name": "x"}]"#, false).decode::<Vec<Item>>().unwrap_err();
        assert!(e.message.contains("missing field `id`"), "{e}");

        let long = format!("{{\"access_token\": \"{}\"", "s".repeat(500));
        let e = resp(&long, true).decode::<Item>().unwrap_err();
        assert!(!e.message.contains("sss") && !e.message.contains("begins"), "a token answer is never quoted: {e}");
        let e = resp(&long, false).decode::<Item>().unwrap_err();
        assert!(e.message.contains('…') && e.message.len() < 400, "{e}");

        // Unknown extra fields are fine.
        let ok: Vec<Item> = resp(r#"[{"id": "1", "new": true}]"#, false).decode().unwrap();
        assert_eq!(ok.len(), 1);
    }
}
