//! The sandbox's own endpoints (never a vendor's): `/_sandbox/*` to inspect and steer the
//! simulation, `/_portal/*` for the portal steps that have no API, and `/_operator/tasks`, where
//! the simulated operator takes portal tasks (through `tenantry sandbox operator`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value as Json, json};

use super::{Shared, World};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sandbox/dump", get(dump))
        .route("/_sandbox/info", get(info))
        .route("/_sandbox/requests", get(requests).delete(forget_requests))
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/clock", post(clock))
        .route("/_sandbox/velocloud/edges", post(add_edge))
        .route("/_sandbox/velocloud/creation", post(creation))
        .route("/_sandbox/veeam/fail-next-mapping", post(fail_mapping))
        .route("/_sandbox/acronis/fail-next-activation-email", post(fail_activation_email))
        .route("/_sandbox/watchguard/fail-next-operator", post(fail_operator))
        .route("/_sandbox/edit", post(edit))
        .route("/_sandbox/world", get(world))
        .route("/_sandbox/faults", get(faults).post(set_faults))
        .route("/_portal/{vendor}/{step}", post(portal))
        .route("/_operator/tasks", post(operator))
        .with_state(shared)
}

async fn dump(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.read(|w, _| w.dump())).into_response()
}

/// Where each simulator listens and how it behaves, so another process can connect to it
/// (`tenantry apply --sandbox-url`).
async fn info(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"urls": shared.urls.get(), "options": shared.opts, "now": shared.now()})).into_response()
}

/// Requests per vendor, and each request and answer when the journal is on.
async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.journal.to_json()).into_response()
}

async fn forget_requests(State(shared): State<Arc<Shared>>) -> Response {
    shared.journal.clear();
    axum::Json(json!({"cleared": true})).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.reset();
    axum::Json(json!({"reset": true})).into_response()
}

/// Move the sandbox clock forward: `{"advanceSeconds": 259200}`.
async fn clock(State(shared): State<Arc<Shared>>, axum::Json(body): axum::Json<Json>) -> Response {
    let secs = body.get("advanceSeconds").and_then(Json::as_i64).unwrap_or(0);
    let now = shared.mutate(|w, _| {
        w.clock_offset += secs;
        w.clock_offset
    });
    axum::Json(json!({"offsetSeconds": now, "now": shared.now().to_string()})).into_response()
}

/// The faults in force.
async fn faults(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"faults": shared.faults.spec()})).into_response()
}

/// Change the faults of the running sandbox: `{"faults": "acronis:malformed=1"}` replaces the
/// spec (`""` clears it); `{"loseNextWrite": "acronis", "then": "acronis:malformed=1"}` commits
/// that vendor's next write, loses its answer, and then puts `then` in force.
async fn set_faults(State(shared): State<Arc<Shared>>, axum::Json(b): axum::Json<Json>) -> Response {
    let parse = |k: &str| b.get(k).and_then(Json::as_str).map(super::faults::FaultSpec::parse).transpose();
    let (spec, then) = match (parse("faults"), parse("then")) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => return answer(Err(e)),
    };
    if let Some(s) = spec {
        shared.faults.set(s);
    }
    if let Some(v) = b.get("loseNextWrite").and_then(Json::as_str) {
        let Some(vendor) = crate::model::Vendor::parse(v) else { return answer(Err(format!("unknown vendor `{v}`"))) };
        shared.faults.lose_next_write(vendor, then.unwrap_or_else(|| shared.faults.spec()));
    }
    axum::Json(json!({"faults": shared.faults.spec()})).into_response()
}

fn answer(r: Result<String, String>) -> Response {
    match r {
        Ok(note) => axum::Json(json!({"status": "done", "note": note})).into_response(),
        Err(message) => {
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"status": "refused", "message": message})))
                .into_response()
        }
    }
}

/// An edge running an image at a customer (edges come from hardware, not from tenantry):
/// `{"enterprise": "Acme Corp", "edge": "leeds-edge-1", "image": "edge-5.2.0"}`.
async fn add_edge(State(shared): State<Arc<Shared>>, axum::Json(b): axum::Json<Json>) -> Response {
    let s = |k: &str| b.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
    answer(shared.mutate(|w, _| super::velocloud::add_edge(w, &s("enterprise"), &s("edge"), &s("image"))))
}

/// The operator's partner setting: `{"disabled": true}`.
async fn creation(State(shared): State<Arc<Shared>>, axum::Json(b): axum::Json<Json>) -> Response {
    let disabled = b.get("disabled").and_then(Json::as_bool).unwrap_or(false);
    shared.mutate(|w, _| w.velocloud.creation_disabled = disabled);
    answer(Ok(format!("customer creation {}", if disabled { "disabled" } else { "enabled" })))
}

async fn fail_mapping(State(shared): State<Arc<Shared>>) -> Response {
    shared.mutate(|w, _| w.veeam.fail_next_mapping = true);
    answer(Ok("the next Pulse mapping fails".into()))
}

async fn fail_activation_email(State(shared): State<Arc<Shared>>) -> Response {
    shared.mutate(|w, _| w.acronis.fail_next_activation_email = true);
    answer(Ok("the next Acronis activation e-mail fails".into()))
}

async fn fail_operator(State(shared): State<Arc<Shared>>, axum::Json(b): axum::Json<Json>) -> Response {
    let message = b.get("message").and_then(Json::as_str).unwrap_or("Operator creation failed").to_string();
    shared.mutate(|w, _| w.watchguard.fail_next_operator = Some(message));
    answer(Ok("the next operator transaction fails".into()))
}

/// The simulated vendors' whole state as the simulators keep it (the layout of the state file;
/// the addresses `/_sandbox/edit` takes as `pointer`).
async fn world(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.read(|w, _| serde_json::to_value(w).unwrap_or(Json::Null))).into_response()
}

/// Change a vendor object behind tenantry's back (drift):
/// `{"vendor": "acronis", "kind": "tenant", "name": "Acme Corp", "field": "customer_id", "value": "X"}`,
/// or anything the simulators keep, by its place in `/_sandbox/world`:
/// `{"pointer": "/acronis/tenants/<id>/contact/email", "value": "x@example.com"}` (the last
/// step may name a key that is not there yet; the result must still be a valid state).
async fn edit(State(shared): State<Arc<Shared>>, axum::Json(b): axum::Json<Json>) -> Response {
    let s = |k: &str| b.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
    let value = b.get("value").cloned().unwrap_or(Json::Null);
    if let Some(pointer) = b.get("pointer").and_then(Json::as_str) {
        let pointer = pointer.to_string();
        return answer(shared.mutate(|w, _| edit_at(w, &pointer, value)));
    }
    let (vendor, kind, name, field) = (s("vendor"), s("kind"), s("name"), s("field"));
    answer(shared.mutate(|w, now| edit_world(w, now, &vendor, &kind, &name, &field, value)))
}

fn edit_at(w: &mut World, pointer: &str, value: Json) -> Result<String, String> {
    let mut whole = serde_json::to_value(&*w).map_err(|e| e.to_string())?;
    let (parent, last) = pointer.rsplit_once('/').ok_or("a pointer starts with /")?;
    let last = last.replace("~1", "/").replace("~0", "~");
    match whole.pointer_mut(parent).ok_or_else(|| format!("nothing at {parent}"))? {
        Json::Object(map) => {
            map.insert(last, value);
        }
        Json::Array(items) => {
            let slot = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)).ok_or("no such list item")?;
            *slot = value;
        }
        _ => return Err(format!("{parent} holds a plain value")),
    }
    *w = serde_json::from_value(whole).map_err(|e| format!("the state would not be valid: {e}"))?;
    Ok(format!("{pointer} changed"))
}

fn edit_world(
    w: &mut World,
    now: jiff::Timestamp,
    vendor: &str,
    kind: &str,
    name: &str,
    field: &str,
    value: Json,
) -> Result<String, String> {
    let text = || value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
    match (vendor, kind) {
        ("acronis", "tenant") => {
            // A move in the management portal (Acronis can move a tenant: `tenantPut.parent_id`).
            if field == "parent_id" && !w.acronis.tenants.contains_key(&text()) {
                return Err(format!("no tenant with id {}", text()));
            }
            let t =
                w.acronis.tenants.values_mut().find(|t| t.name.eq_ignore_ascii_case(name)).ok_or("no such tenant")?;
            match field {
                "name" => t.name = text(),
                "parent_id" => t.parent_id = text(),
                "customer_id" => t.customer_id = value.as_str().map(str::to_string),
                "internal_tag" => t.internal_tag = value.as_str().map(str::to_string),
                f => {
                    if let Some(c) = t.contact.as_object_mut() {
                        c.insert(f.to_string(), value.clone());
                    }
                }
            }
            t.version += 1;
        }
        ("velocloud", "enterprise") => {
            let e = w
                .velocloud
                .enterprises
                .values_mut()
                .find(|e| e.name.eq_ignore_ascii_case(name))
                .ok_or("no such enterprise")?;
            match field {
                "name" => e.name = text(),
                "accountNumber" => e.account_number = text(),
                "domain" => e.domain = text(),
                // Renaming or redescribing the customer's (first) configuration profile, as
                // Configure > Profiles does.
                "profileName" | "profileDescription" => {
                    let c = e.configurations.first_mut().ok_or("the enterprise has no configuration profile")?;
                    if field == "profileName" {
                        c.name = text();
                    } else {
                        c.description = text();
                    }
                    c.modified = super::vco_time(now);
                }
                f => {
                    e.site.insert(f.to_string(), value.clone());
                }
            }
            e.modified = super::vco_time(now);
        }
        ("watchguard", "account") => {
            let a = w
                .watchguard
                .accounts
                .values_mut()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .ok_or("no such account")?;
            match field {
                "name" => a.name = text(),
                "email" => a.email = text(),
                "firstName" => a.first_name = text(),
                "lastName" => a.last_name = text(),
                _ => return Err(format!("cannot edit {field}")),
            }
        }
        ("veeam", "company") => {
            let c = w
                .veeam
                .companies
                .values_mut()
                .find(|c| {
                    c.organization.get("name").and_then(Json::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .ok_or("no such company")?;
            c.organization.insert(field.to_string(), value.clone());
        }
        ("datto", "client") => {
            let c = w.datto.clients.values_mut().find(|c| c.name.eq_ignore_ascii_case(name)).ok_or("no such client")?;
            match field {
                "retention" => c.retention = text(),
                "name" => c.name = text(),
                _ => return Err(format!("cannot edit {field}")),
            }
        }
        // A seat paused or unlicensed in the portal (for Google clients the only place it can
        // be: providers.md 2.2); `name` is the seat's name (`user01@globex.example`).
        ("datto", "seat") => {
            let seat = w
                .datto
                .clients
                .values_mut()
                .flat_map(|c| c.seats.iter_mut())
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .ok_or("no such seat")?;
            match (field, value.as_str()) {
                ("seatState", Some(state @ ("Active" | "Paused" | "Archived" | "Unprotected"))) => {
                    seat.seat_state = state.to_string()
                }
                _ => return Err(format!("cannot set {field} to {value}")),
            }
        }
        ("avepoint", "customer") => {
            let c = w
                .avepoint
                .customers
                .values_mut()
                .find(|c| c.organization.eq_ignore_ascii_case(name))
                .ok_or("no such customer")?;
            match field {
                "managementMode" => c.management_mode = value.as_u64().unwrap_or(1) as u8,
                "organization" => c.organization = text(),
                _ => return Err(format!("cannot edit {field}")),
            }
        }
        _ => return Err(format!("cannot edit {vendor} {kind}")),
    }
    Ok(format!("{vendor} {kind} {name}: {field} changed"))
}

/// A portal step done by a person through the sandbox: `POST /_portal/datto/add-saas-client`
/// with the form's values (and `vendorId` for steps on an existing object).
async fn portal(
    State(shared): State<Arc<Shared>>,
    Path((vendor, step)): Path<(String, String)>,
    axum::Json(values): axum::Json<Json>,
) -> Response {
    let task = format!("{vendor}/{step}");
    let target = values.get("vendorId").and_then(Json::as_str).map(str::to_string);
    answer(perform(&shared, &task, &values, target.as_deref()))
}

/// Carry out one portal step.
pub fn perform(shared: &Shared, task: &str, values: &Json, target: Option<&str>) -> Result<String, String> {
    let opts = shared.opts.clone();
    shared.mutate(|w, now| match task {
        "veeam/vdc-registration" => super::veeam::register_for_vdc(w, values, now, &opts),
        "veeam/vdc-admin" => super::veeam::change_vdc_admin(w, values, target),
        "datto/add-saas-client" => super::datto::add_client(w, values, now, &opts),
        "datto/license-seats" => super::datto::license_seats(w, values, target),
        "datto/check-authorization" => super::datto::check_authorization(w, values, target, now, &opts),
        "datto/change-term" | "datto/change-retention" | "datto/licensing" | "datto/edit-client" => {
            super::datto::change_client(w, values, target)
        }
        t if t.starts_with("avepoint/") => super::avepoint::portal(w, t, values, target, now),
        other => Err(format!("the sandbox has no portal step `{other}`")),
    })
}

/// The simulated operator: takes a task (the JSON tenantry's `command` and `webhook` executors
/// send), works on it for the configured delay, then does it in the portal.
async fn operator(State(shared): State<Arc<Shared>>, axum::Json(task): axum::Json<Json>) -> Response {
    let kind = task.get("task").and_then(Json::as_str).unwrap_or_default().to_string();
    let values = task.get("values").cloned().unwrap_or(json!({}));
    let target = task.get("vendorId").and_then(Json::as_str).map(str::to_string);
    tokio::time::sleep(shared.opts.operator_delay).await;
    // A person given a task that is already done (an earlier delivery got there, and its
    // answer was lost) sees the result in the portal and reports it done.
    if shared.read(|w, _| already_done(w, &kind, &values)) {
        tracing::info!(task = %kind, "sandbox operator: already done");
        return answer(Ok("already done in the portal".into()));
    }
    let result = perform(&shared, &kind, &values, target.as_deref());
    tracing::info!(task = %kind, "sandbox operator: {result:?}");
    answer(result)
}

/// Whether the portal already shows what the task asks for.
fn already_done(w: &World, task: &str, values: &Json) -> bool {
    let text = |k: &str| values.get(k).and_then(Json::as_str).unwrap_or_default();
    match task {
        "veeam/vdc-registration" => {
            w.veeam.portal.values().any(|c| c.name.eq_ignore_ascii_case(text("customerName")) && c.vdc_registered)
        }
        "datto/add-saas-client" => w
            .datto
            .clients
            .values()
            .any(|c| c.domain.eq_ignore_ascii_case(text("domain")) && c.product == text("productType")),
        _ => false,
    }
}
