//! Contract tests of the simulators over real HTTP (reqwest), below tenantry's clients: each
//! fault kind the sandbox injects, in the vendor's own shape, and that a "lost" answer still
//! commits; then, per vendor, auth refusals, paging to the last page, the documented errors and
//! each asynchronous transition (moved along with the sandbox clock, not by sleeping).
//! (Routes and bodies against the published specifications: see `specs`.)

use serde_json::{Value as Json, json};

use crate::support::{Served, client};

const VCO_TOKEN: &str = "Token sandbox-vco-token";

fn insert_body(name: &str) -> Json {
    json!({"name": name, "configurationId": 7, "accountNumber": format!("{name}-1")})
}

async fn vco_insert(served: &Served, name: &str) -> Result<reqwest::Response, reqwest::Error> {
    let base = served.urls["velocloud"].as_str().unwrap();
    client()
        .post(format!("{base}/enterpriseProxy/insertEnterpriseProxyEnterprise"))
        .header("authorization", VCO_TOKEN)
        .json(&insert_body(name))
        .send()
        .await
}

fn enterprises(dump: &Json) -> Vec<String> {
    dump["velocloud"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["enterprise"]["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_faults_the_vco_creates_and_answers_its_id() {
    let served = Served::start(&[]);
    let resp = vco_insert(&served, "Plain Co").await.expect("answer");
    assert_eq!(resp.status(), 200);
    let body: Json = resp.json().await.unwrap();
    assert!(body["id"].as_i64().is_some(), "{body}");
    assert_eq!(enterprises(&served.dump().await), ["Plain Co"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_fault_answers_in_the_vendor_shape_and_commits_nothing() {
    let served = Served::start(&["--faults", "velocloud:5xx=1"]);
    let resp = vco_insert(&served, "Five Co").await.expect("answer");
    assert_eq!(resp.status(), 500);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32603, "the JSON-RPC error envelope: {body}");
    assert!(enterprises(&served.dump().await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_fault_names_its_wait_where_the_vendor_does() {
    let served = Served::start(&["--faults", "acronis:429=1,velocloud:429=1"]);
    let acronis = served.urls["acronis"].as_str().unwrap();
    let resp = client().get(format!("{acronis}/tenants")).send().await.expect("answer");
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1", "Acronis sends Retry-After");
    // The VCO documents a plain 429 and a fixed 5-second penalty instead.
    let resp = vco_insert(&served, "Slow Co").await.expect("answer");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    assert!(enterprises(&served.dump().await).is_empty());
}

/// Insert `name` into the VCO and read the whole answer: whether it was cut off.
async fn vco_insert_cut_off(served: &Served, name: &str) -> bool {
    match vco_insert(served, name).await {
        Ok(resp) => resp.bytes().await.is_err(),
        Err(_) => true,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_fault_cuts_the_connection_and_commits_nothing() {
    let served = Served::start(&["--faults", "velocloud:drop=1"]);
    assert!(vco_insert_cut_off(&served, "Drop Co").await, "the answer should be cut off");
    assert!(enterprises(&served.dump().await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lose_fault_commits_then_cuts_the_answer() {
    let served = Served::start(&["--faults", "velocloud:lose=1"]);
    assert!(vco_insert_cut_off(&served, "Lost Co").await, "the answer should be cut off");
    assert_eq!(enterprises(&served.dump().await), ["Lost Co"], "but the vendor carried it out");
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_are_per_vendor_and_counted_in_the_journal() {
    let served = Served::start(&["--faults", "acronis:5xx=1"]);
    let resp = vco_insert(&served, "Other Co").await.expect("answer");
    assert_eq!(resp.status(), 200, "the VCO has no faults");
    let acronis = served.urls["acronis"].as_str().unwrap();
    let resp = client().get(format!("{acronis}/tenants")).send().await.expect("answer");
    assert_eq!(resp.status(), 500);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InternalServerError", "Acronis's documented error body: {body}");
    let journal = served.get("/_sandbox/requests").await;
    assert_eq!(journal["counts"]["velocloud"], 1, "{journal}");
    assert_eq!(journal["counts"]["acronis"], 1, "{journal}");
}

/// An Acronis bearer token from the sandbox's client credentials.
pub(crate) async fn acronis_token(base: &str) -> String {
    use tenantry::sandbox::credentials::{ACRONIS_CLIENT, ACRONIS_SECRET};
    let resp = client()
        .post(format!("{base}/idp/token"))
        .basic_auth(ACRONIS_CLIENT, Some(ACRONIS_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 200);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer", "{body}");
    body["access_token"].as_str().expect("access_token").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn acronis_pages_by_cursor_to_the_last_page_and_answers_documented_errors() {
    use tenantry::sandbox::credentials::{ACRONIS_CLIENT, ACRONIS_HOME};
    let served = Served::start(&[]);
    let base = served.urls["acronis"].as_str().unwrap().to_string();
    let http = client();

    // Wrong credentials: the OAuth 2 refusal.
    let resp = http
        .post(format!("{base}/idp/token"))
        .basic_auth(ACRONIS_CLIENT, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Json>().await.unwrap()["error"], "access_denied");

    let token = acronis_token(&base).await;
    let post = |body: Json| http.post(format!("{base}/tenants")).bearer_auth(&token).json(&body).send();
    for i in 0..5 {
        let resp =
            post(json!({"name": format!("Paged {i}"), "parent_id": ACRONIS_HOME, "kind": "customer"})).await.unwrap();
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    }
    // The same name under the same parent, a field the schema does not have, a missing parent.
    let dup = post(json!({"name": "Paged 0", "parent_id": ACRONIS_HOME, "kind": "customer"})).await.unwrap();
    assert_eq!(dup.status(), 409);
    let unknown =
        post(json!({"name": "X", "parent_id": ACRONIS_HOME, "kind": "customer", "colour": "red"})).await.unwrap();
    assert_eq!(unknown.status(), 400);
    let orphan = post(json!({"name": "Y", "parent_id": "00000000-0000-4000-8000-000000000000", "kind": "customer"}))
        .await
        .unwrap();
    assert_eq!(orphan.status(), 404);
    for r in [dup, unknown, orphan] {
        let body: Json = r.json().await.unwrap();
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
    }

    // Two at a time: three pages, the last without a cursor.
    let mut names = Vec::new();
    let mut pages = 0;
    let mut url = format!("{base}/tenants?parent_id={ACRONIS_HOME}&limit=2");
    loop {
        let page: Json = json_body(http.get(&url).bearer_auth(&token)).await;
        pages += 1;
        names.extend(page["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()));
        match page.pointer("/paging/cursors/after").and_then(Json::as_str) {
            Some(after) => url = format!("{base}/tenants?after={after}"),
            None => break,
        }
        assert!(pages < 10, "the cursor never ends");
    }
    assert_eq!(pages, 3);
    names.sort();
    assert_eq!(names, ["Paged 0", "Paged 1", "Paged 2", "Paged 3", "Paged 4"]);
}

/// A VSPC bearer token from the sandbox's public credentials.
async fn veeam_token(base: &str) -> String {
    use tenantry::sandbox::credentials::{VEEAM_PASSWORD, VEEAM_USER};
    let form = [("grant_type", "password"), ("username", VEEAM_USER), ("password", VEEAM_PASSWORD)];
    let body: Json = json_body(client().post(format!("{base}/token")).form(&form)).await;
    assert_eq!(body["token_type"], "bearer", "{body}");
    body["access_token"].as_str().expect("access_token").to_string()
}

/// The VSPC error envelope's first error: (type, code).
async fn vspc_error(resp: reqwest::Response) -> (String, u64) {
    let body: Json = resp.json().await.unwrap();
    let e = &body["errors"][0];
    assert!(body["data"].is_null() && e["message"].is_string(), "{body}");
    (e["type"].as_str().unwrap_or_default().to_string(), e["code"].as_u64().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn veeam_pages_by_offset_goes_async_on_request_id_and_maps_pulse_tenants() {
    let served = Served::start(&["--pulse-delay", "60"]);
    let base = served.urls["veeam"].as_str().unwrap().to_string();
    let http = client();

    // Refusals: a wrong password is the OAuth error; no token is VSPC's security error.
    let wrong = [("grant_type", "password"), ("username", "sandbox-msp"), ("password", "wrong")];
    let resp = http.post(format!("{base}/token")).form(&wrong).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Json>().await.unwrap()["error"], "invalid_grant");
    let resp = http.get(format!("{base}/organizations/companies")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(vspc_error(resp).await, ("security".to_string(), 401));

    let token = veeam_token(&base).await;
    let company = |name: &str, user: &str| json!({"organizationInput": {"name": name, "country": 826}, "ownerCredentials": {"userName": user, "password": "Sandbox-Passw0rd!"}});
    let create = |body: Json, rid: Option<&str>| {
        let mut req = http.post(format!("{base}/organizations/companies")).bearer_auth(&token).json(&body);
        if let Some(rid) = rid {
            req = req.header("x-request-id", rid);
        }
        req.send()
    };
    for i in 0..4 {
        let resp = create(company(&format!("Paged {i}"), &format!("owner{i}")), None).await.unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }
    // Documented refusals, in the envelope: custom codes with 520, client errors with their own
    // status (the 3.7 document's default response).
    let dup = create(company("paged 0", "someone"), None).await.unwrap();
    assert_eq!(dup.status(), 520);
    assert_eq!(vspc_error(dup).await, ("logical".to_string(), 1200));
    let taken = create(company("Fresh", "OWNER1"), None).await.unwrap();
    assert_eq!(taken.status(), 520);
    assert_eq!(vspc_error(taken).await, ("logical".to_string(), 1201));
    let nameless = create(json!({"organizationInput": {}, "ownerCredentials": {"userName": "x"}}), None).await.unwrap();
    assert_eq!(nameless.status(), 400);
    let body: Json = nameless.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("organizationInput.name"), "{body}");
    assert!(body["errors"][0].get("propertyName").is_none(), "not in the document: {body}");
    let not_uuid = create(company("Odd Co", "odd-owner"), Some("rid-1")).await.unwrap();
    assert_eq!(not_uuid.status(), 400, "X-Request-id is a UUID in the document");

    // With X-Request-id: 202 and a Location to poll; the same id again is the same action.
    let rid = "0b5f2a8e-3c1d-4e6f-8a9b-7c2d1e0f4a5b";
    let first = create(company("Async Co", "async-owner"), Some(rid)).await.unwrap();
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/api/v3/asyncActions/{rid}")), "{location}");
    let again = create(company("Async Co", "async-owner"), Some(rid)).await.unwrap();
    assert_eq!((again.status().as_u16(), again.headers()["location"].to_str().unwrap()), (202, location.as_str()));
    let mut status = String::new();
    for _ in 0..50 {
        let action: Json = json_body(http.get(&location).bearer_auth(&token)).await;
        status = action["data"]["status"].as_str().unwrap_or_default().to_string();
        if status != "running" {
            break;
        }
        let early = http.get(format!("{location}/result")).bearer_auth(&token).send().await.unwrap();
        if !early.status().is_success() {
            assert_eq!(early.status(), 520);
            assert_eq!(vspc_error(early).await, ("retryableLogical".to_string(), 1500));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "succeed");
    let result: Json =
        http.get(format!("{location}/result")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(result["data"]["name"], "Async Co", "{result}");
    let async_uid = result["data"]["instanceUid"].as_str().unwrap().to_string();

    // Offset paging to the last page; a limit past 500 is refused; a filter narrows.
    let list = |query: &[(&str, &str)]| {
        http.get(format!("{base}/organizations/companies")).bearer_auth(&token).query(query).send()
    };
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let page: Json = list(&[("limit", "2"), ("offset", &offset.to_string())]).await.unwrap().json().await.unwrap();
        let items = page["data"].as_array().unwrap();
        assert_eq!(page["meta"]["pagingInfo"]["total"], 5, "{page}");
        names.extend(items.iter().map(|c| c["name"].as_str().unwrap().to_string()));
        offset += items.len();
        if items.is_empty() || offset >= 5 {
            break;
        }
    }
    names.sort();
    assert_eq!(names, ["Async Co", "Paged 0", "Paged 1", "Paged 2", "Paged 3"]);
    let too_many = list(&[("limit", "501")]).await.unwrap();
    assert_eq!(too_many.status(), 400);
    let filter = r#"[{"property":"name","operation":"equals","collation":"ignorecase","value":"PAGED 2"}]"#;
    let page: Json = list(&[("filter", filter)]).await.unwrap().json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");

    // Pulse: a tenant from the company maps after Pulse's delay; once mapped, not again.
    let pulse = |uid: &str| http.post(format!("{base}/pulse/tenants?companyUid={uid}")).bearer_auth(&token).send();
    let missing = pulse("00000000-0000-0000-0000-000000000000").await.unwrap();
    assert_eq!(missing.status(), 404);
    let tenant: Json = pulse(&async_uid).await.unwrap().json().await.unwrap();
    assert_eq!(tenant["data"]["mappingStatus"], "MappingInProggress", "{tenant}");
    let tenant_uid = tenant["data"]["instanceUid"].as_str().unwrap().to_string();
    served.post("/_sandbox/clock", json!({"advanceSeconds": 61})).await;
    let tenant: Json = json_body(http.get(format!("{base}/pulse/tenants/{tenant_uid}")).bearer_auth(&token)).await;
    assert_eq!(tenant["data"]["mappingStatus"], "Mapped", "{tenant}");
    let mapped = pulse(&async_uid).await.unwrap();
    assert_eq!(mapped.status(), 520);
    assert_eq!(vspc_error(mapped).await, ("logical".to_string(), 1301));
    let gone = http.get(format!("{base}/organizations/companies/nope")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn datto_authorizes_clients_pages_applications_and_spends_its_request_budget() {
    use tenantry::sandbox::credentials::{DATTO_PUBLIC, DATTO_SECRET};
    let served = Served::start(&["--customer-delay", "60"]);
    let base = served.urls["datto"].as_str().unwrap().to_string();
    let http = client();
    let get = |path: String| http.get(format!("{base}{path}")).basic_auth(DATTO_PUBLIC, Some(DATTO_SECRET)).send();

    // Unknown routes answer 404 before the auth check; known ones refuse bad credentials.
    let unknown = http.get(format!("{base}/saas/nothing/here/at/all")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let refused =
        http.get(format!("{base}/saas/domains")).basic_auth(DATTO_PUBLIC, Some("wrong")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<Json>().await.unwrap()["code"], "unauthorized");

    // The partner portal's form: refused without the terms, then a client pending authorization.
    let form = json!({
        "domain": "contract.example", "productType": "Office365", "clientName": "Contract Ltd", "region": "eu",
        "term": "oneYear", "retentionType": "TimeBased", "managedBy": "partner", "acknowledgeTerms": true,
    });
    let mut no_terms = form.clone();
    no_terms["acknowledgeTerms"] = json!(false);
    let refused = served.post("/_portal/datto/add-saas-client", no_terms).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    let added = served.post("/_portal/datto/add-saas-client", form).await;
    assert_eq!(added["status"], "done", "{added}");

    let resp = get("/saas/domains".into()).await.unwrap();
    let remaining: u32 = resp.headers()["x-api-limit-remaining"].to_str().unwrap().parse().unwrap();
    let domains: Json = resp.json().await.unwrap();
    let client_id = domains[0]["saasCustomerId"].as_u64().expect("a client");
    let subscription = domains[0]["externalSubscriptionId"].as_str().unwrap().to_string();
    assert_eq!(domains[0]["backupStats"]["activeServicesCount"], 0, "not authorized yet: {domains}");
    let seats: Json = get(format!("/saas/{client_id}/seats")).await.unwrap().json().await.unwrap();
    assert_eq!(seats, json!([]), "no tenant is visible before authorization");

    // The customer authorizes: the tenant's users and shared mailboxes appear, unprotected.
    served.post("/_sandbox/clock", json!({"advanceSeconds": 61})).await;
    let seats: Json = get(format!("/saas/{client_id}/seats")).await.unwrap().json().await.unwrap();
    assert_eq!(seats.as_array().unwrap().len(), 14, "{seats}");
    let users: Json = get(format!("/saas/{client_id}/seats?seatType=User")).await.unwrap().json().await.unwrap();
    let users: Vec<String> =
        users.as_array().unwrap().iter().map(|s| s["remoteId"].as_str().unwrap().to_string()).collect();
    assert_eq!(users.len(), 12);

    // Applications: the paged envelope; daysUntil past 30 is refused.
    let apps: Json =
        get(format!("/saas/{client_id}/applications?_page=1&_perPage=1")).await.unwrap().json().await.unwrap();
    assert_eq!(apps["pagination"]["totalPages"], 1, "{apps}");
    assert_eq!(apps["items"][0]["customerName"], "Contract Ltd", "{apps}");
    let late = get(format!("/saas/{client_id}/applications?daysUntil=31")).await.unwrap();
    assert_eq!(late.status(), 400);

    // bulkSeatChange: case-sensitive enums, at most 100 ids, one status per id.
    let change = |body: Json| {
        http.put(format!("{base}/saas/{client_id}/{subscription}/bulkSeatChange"))
            .basic_auth(DATTO_PUBLIC, Some(DATTO_SECRET))
            .json(&body)
            .send()
    };
    let lower = change(json!({"seat_type": "User", "action_type": "license", "ids": [users[0]]})).await.unwrap();
    assert_eq!(lower.status(), 400);
    let many: Vec<String> = (0..101).map(|i| format!("r-{i}")).collect();
    let too_many = change(json!({"seat_type": "User", "action_type": "License", "ids": many})).await.unwrap();
    assert_eq!(too_many.status(), 400);
    let done: Json =
        change(json!({"seat_type": "User", "action_type": "License", "ids": [users[0], users[1], "r-missing"]}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let statuses: Vec<&str> = done.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["Success", "Success", "NotFound"], "{done}");
    let other = http
        .put(format!("{base}/saas/{client_id}/Classic:Office365:1/bulkSeatChange"))
        .basic_auth(DATTO_PUBLIC, Some(DATTO_SECRET))
        .json(&json!({"seat_type": "User", "action_type": "License", "ids": [users[2]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // The request budget: spent, the next answer is 429 with the wait; a new window resets it.
    for _ in 0..remaining {
        let r = get("/saas/domains".into()).await.unwrap();
        if r.status() == 429 {
            break;
        }
    }
    let spent = get("/saas/domains".into()).await.unwrap();
    assert_eq!(spent.status(), 429);
    assert_eq!(spent.headers()["x-api-limit-remaining"], "0");
    assert!(spent.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    served.post("/_sandbox/clock", json!({"advanceSeconds": 61})).await;
    assert_eq!(get("/saas/domains".into()).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn watchguard_needs_token_and_key_pages_children_and_follows_operator_transactions() {
    use tenantry::sandbox::credentials::{WG_ACCESS, WG_API_KEY, WG_HOME, WG_PASSWORD};
    let served = Served::start(&[]);
    let base = served.urls["watchguard"].as_str().unwrap().to_string();
    let http = client();
    let token_form = [("grant_type", "client_credentials"), ("scope", "api-access")];

    let refused =
        http.post(format!("{base}/oauth/token")).basic_auth(WG_ACCESS, Some("wrong")).form(&token_form).send();
    let refused = refused.await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<Json>().await.unwrap()["error"], "invalid_client");
    let token: Json =
        json_body(http.post(format!("{base}/oauth/token")).basic_auth(WG_ACCESS, Some(WG_PASSWORD)).form(&token_form))
            .await;
    let token = token["access_token"].as_str().expect("access_token").to_string();
    let acc = format!("{base}/rest/platform/accounts/v1/accounts");
    let ops = format!("{base}/rest/platform/operator-mgmt/v1");
    // The token alone is not enough: every call also carries the API key.
    let no_key = http.get(format!("{acc}/{WG_HOME}/children")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(no_key.status(), 403);
    let no_token = http.get(format!("{acc}/{WG_HOME}/children")).header("watchguard-api-key", WG_API_KEY).send();
    assert_eq!(no_token.await.unwrap().status(), 401);

    let call = |method: reqwest::Method, url: String| {
        http.request(method, url).bearer_auth(&token).header("watchguard-api-key", WG_API_KEY)
    };
    let account = |name: &str, kind: u8| json!({"name": name, "type": kind, "firstName": "Ada", "lastName": "Byron", "email": "ada@example.com"});
    let mut subscribers = Vec::new();
    for i in 0..3 {
        let r: Json =
            json_body(call(reqwest::Method::POST, format!("{acc}/{WG_HOME}")).json(&account(&format!("Sub {i}"), 2)))
                .await;
        subscribers.push(r["accountId"].as_str().expect("accountId").to_string());
    }
    // Documented refusals: a missing field, a child under a subscriber, the same create twice at once.
    let missing = call(reqwest::Method::POST, format!("{acc}/{WG_HOME}")).json(&json!({"name": "X", "type": 2})).send();
    assert_eq!(missing.await.unwrap().status(), 400);
    let under_sub = call(reqwest::Method::POST, format!("{acc}/{}", subscribers[0])).json(&account("Deep", 2)).send();
    assert_eq!(under_sub.await.unwrap().status(), 400);
    let twice = call(reqwest::Method::POST, format!("{acc}/{WG_HOME}")).json(&account("Sub 0", 2)).send();
    assert_eq!(twice.await.unwrap().status(), 409);

    // Children by offset to the last page, and by type.
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let page: Json =
            json_body(call(reqwest::Method::GET, format!("{acc}/{WG_HOME}/children?limit=2&offset={offset}"))).await;
        let items = page["items"].as_array().unwrap();
        names.extend(items.iter().map(|a| a["name"].as_str().unwrap().to_string()));
        offset += items.len();
        if offset >= page["totalItems"].as_u64().unwrap() as usize || items.is_empty() {
            break;
        }
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("Sub ")).count(), 3, "{names:?}");

    // An operator is a transaction: PENDING, then SUCCESS; one WatchGuard refuses ends FAILED.
    let operator = |username: &str| json!({"username": username, "accountId": subscribers[1], "firstName": "Op", "lastName": "Erator", "email": "op@example.com", "phone": "441174960101", "role": "ADMINISTRATOR"});
    let status = |txn: &str| call(reqwest::Method::GET, format!("{ops}/TransactionStatus?transaction_id={txn}"));
    let started: Json =
        json_body(call(reqwest::Method::POST, format!("{ops}/operators")).json(&operator("ops.one"))).await;
    assert_eq!(started["status"], "PENDING", "{started}");
    let txn = started["transaction_id"].as_str().unwrap().to_string();
    assert_eq!(json_body(status(&txn)).await["status"], "PENDING");
    served.post("/_sandbox/clock", json!({"advanceSeconds": 2})).await;
    assert_eq!(json_body(status(&txn)).await["status"], "SUCCESS");
    let listed: Json =
        json_body(call(reqwest::Method::GET, format!("{ops}/OperatorsByAccountId?account_id={}", subscribers[1])))
            .await;
    assert_eq!(listed["result"][0]["userName"], "ops.one", "{listed}");

    served.post("/_sandbox/watchguard/fail-next-operator", json!({"message": "Email already used"})).await;
    let failing: Json =
        json_body(call(reqwest::Method::POST, format!("{ops}/operators")).json(&operator("ops.two"))).await;
    served.post("/_sandbox/clock", json!({"advanceSeconds": 2})).await;
    let failed = json_body(status(failing["transaction_id"].as_str().unwrap())).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["transaction_status"][0]["error"], "Email already used", "{failed}");
    let bad_role = call(reqwest::Method::POST, format!("{ops}/operators"))
        .json(&json!({"username": "ops.three", "accountId": subscribers[1], "firstName": "A", "lastName": "B", "email": "a@b.c", "phone": "441174960101", "role": "OWNER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_role.status(), 400);

    // A parent with children is deleted only with force; an unknown account is 404.
    let gone = call(reqwest::Method::GET, format!("{acc}/ACC-0")).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let sp: Json =
        json_body(call(reqwest::Method::POST, format!("{acc}/{WG_HOME}")).json(&account("Reseller", 1))).await;
    let sp = sp["accountId"].as_str().unwrap().to_string();
    call(reqwest::Method::POST, format!("{acc}/{sp}")).json(&account("Its customer", 2)).send().await.unwrap();
    let refused = call(reqwest::Method::DELETE, format!("{acc}/{sp}")).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    let forced = call(reqwest::Method::DELETE, format!("{acc}/{sp}?force=true")).send().await.unwrap();
    assert!(forced.status().is_success(), "{}", forced.status());
}

/// Send a request and read its JSON answer.
async fn json_body(req: reqwest::RequestBuilder) -> Json {
    req.send().await.expect("send").json().await.expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn avepoint_answers_business_status_codes_pages_by_100_and_links_expire() {
    use tenantry::sandbox::credentials::{AVEPOINT_CLIENT, AVEPOINT_SECRET};
    let served = Served::start(&["--customer-delay", "60"]);
    let identity = served.urls["avepoint_identity"].as_str().unwrap();
    let base = format!("{}/partner/external/v3/general", served.urls["avepoint"].as_str().unwrap());
    let http = client();
    let token = |secret: &str, scope: &str| {
        http.post(format!("{identity}/connect/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", AVEPOINT_CLIENT),
            ("client_secret", secret),
            ("scope", scope),
        ])
    };
    let refused = token("wrong", "elements.customers.read.all").send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Json>().await.unwrap()["error"], "invalid_client");
    // A token without the scope a call needs is refused with 403.
    let read_only = json_body(token(AVEPOINT_SECRET, "elements.customers.read.all")).await;
    let read_only = read_only["access_token"].as_str().unwrap().to_string();
    let denied = http.post(format!("{base}/customers")).bearer_auth(&read_only).json(&json!({})).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let all = "elements.customers.readwrite.all elements.license.readwrite.all";
    let t = json_body(token(AVEPOINT_SECRET, all)).await["access_token"].as_str().unwrap().to_string();
    let post = |path: String, body: Json| http.post(format!("{base}{path}")).bearer_auth(&t).json(&body);

    let customer = |i: usize, email: &str| {
        json!({"firstName": "Ada", "lastName": "Byron", "organizationName": format!("Org {i}"), "registrationAccount": email,
               "password": "Sandbox-Passw0rd!", "countryCode": "GB", "dataCenter": tenantry::sandbox::avepoint::DATA_CENTERS[0]})
    };
    // Business outcomes on HTTP 200: 1 onboarded, 5 already ours, 7 another partner's.
    let mut ids = Vec::new();
    for i in 0..105 {
        let r = json_body(post("/customers".into(), customer(i, &format!("admin{i}@org.example")))).await;
        assert_eq!(r["status"], 1, "{r}");
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let again = json_body(post("/customers".into(), customer(0, "ADMIN0@org.example"))).await;
    assert_eq!((again["status"].clone(), again["id"].clone()), (json!(5), json!(ids[0])));
    let foreign = json_body(post("/customers".into(), customer(200, "admin@taken-by-another-partner.example"))).await;
    assert_eq!(foreign["status"], 7, "{foreign}");
    let invalid = post("/customers".into(), json!({"firstName": "A"})).send().await.unwrap();
    assert_eq!(invalid.status(), 400);
    assert!(invalid.json::<Json>().await.unwrap()["message"].is_string());

    // The batch list: pages of at most 100, to the last page.
    let mut seen = 0;
    for index in 1.. {
        let page = json_body(post(format!("/customers/batch?pageIndex={index}&pageSize=100"), json!({}))).await;
        let n = page["data"].as_array().unwrap().len();
        assert_eq!(page["metadata"]["totalCount"], 105, "{page}");
        seen += n;
        if n < 100 {
            break;
        }
    }
    assert_eq!(seen, 105);
    let too_big = post("/customers/batch?pageSize=101".into(), json!({})).send().await.unwrap();
    assert_eq!(too_big.status(), 400);

    // Services draw seats from the partner's pools: no pool is 3, too few seats is 4, twice is 12.
    let service = |seats: i64, resource: &str| {
        json!({"product": 2048, "licenseType": 1, "avepointStorageType": 0, "retentionYear": 1,
               "licenseItems": [{"resource": resource, "userSeat": seats}]})
    };
    let added = json_body(post(format!("/customers/{}/services", ids[1]), service(100, "Office365Backup"))).await;
    assert_eq!(added["status"], 1, "{added}");
    let twice = json_body(post(format!("/customers/{}/services", ids[1]), service(100, "Office365Backup"))).await;
    assert_eq!(twice["status"], 12, "{twice}");
    let no_pool = json_body(post(format!("/customers/{}/services", ids[2]), service(1, "NoSuchPool"))).await;
    assert_eq!(no_pool["status"], 3, "{no_pool}");
    let short = json_body(post(format!("/customers/{}/services", ids[3]), service(401, "Office365Backup"))).await;
    assert_eq!(short["status"], 4, "400 seats are left in the pool: {short}");

    // Authorization links: followed before they expire, the tenant appears; too late, never.
    let link = |id: &str, tenant: &str| {
        post(
            format!("/customers/{id}/tenants/{tenant}/auth-link"),
            json!({"aadEnvironment": 0, "tenantFriendlyName": tenant}),
        )
    };
    let consent = |id: &str, tenant: &str| {
        http.get(format!("{base}/customers/{id}/tenants/{tenant}/product/2048/apps")).bearer_auth(&t)
    };
    let url = json_body(link(&ids[1], "early.example")).await;
    assert!(url["url"].as_str().unwrap().contains("linkId="), "{url}");
    assert_eq!(json_body(consent(&ids[1], "early.example")).await[0]["isConsent"], false);
    served.post("/_sandbox/clock", json!({"advanceSeconds": 61})).await;
    assert_eq!(json_body(consent(&ids[1], "early.example")).await[0]["isConsent"], true);

    let stale = Served::start(&["--customer-delay", "259300"]); // the customer comes back after 72 h
    let identity = stale.urls["avepoint_identity"].as_str().unwrap();
    let base = format!("{}/partner/external/v3/general", stale.urls["avepoint"].as_str().unwrap());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", AVEPOINT_CLIENT),
        ("client_secret", AVEPOINT_SECRET),
        ("scope", all),
    ];
    let t = json_body(http.post(format!("{identity}/connect/token")).form(&form)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let c =
        json_body(http.post(format!("{base}/customers")).bearer_auth(&t).json(&customer(1, "late@org.example"))).await;
    let id = c["id"].as_str().unwrap();
    let body = json!({"aadEnvironment": 0, "tenantFriendlyName": "late.example"});
    json_body(http.post(format!("{base}/customers/{id}/tenants/late.example/auth-link")).bearer_auth(&t).json(&body))
        .await;
    stale.post("/_sandbox/clock", json!({"advanceSeconds": 259_400})).await;
    // Three days on, the hour-long token has expired too.
    let expired = http.get(format!("{base}/customers/{id}")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(expired.status(), 401);
    let t = json_body(http.post(format!("{identity}/connect/token")).form(&form)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let late =
        json_body(http.get(format!("{base}/customers/{id}/tenants/late.example/product/2048/apps")).bearer_auth(&t))
            .await;
    assert_eq!(late[0]["isConsent"], false, "an expired link grants nothing: {late}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vco_speaks_both_transports_logs_in_by_cookie_and_throttles_with_a_penalty() {
    use tenantry::sandbox::credentials::{VCO_PASSWORD, VCO_USER};
    let served = Served::start(&[]);
    let rest = served.urls["velocloud"].as_str().unwrap().to_string(); // .../portal/rest
    let rpc = rest.trim_end_matches("rest").to_string(); // .../portal/
    let http = tenantry::provider::http::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Login answers 302 either way; only the right password sets a session cookie.
    let login = |password: &str| {
        http.post(format!("{rest}/login/enterpriseLogin"))
            .json(&json!({"username": VCO_USER, "password": password}))
            .send()
    };
    let cookie_of = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.split(';').next().filter(|kv| kv.starts_with("velocloud.session=")).map(str::to_string))
    };
    let wrong = login("wrong").await.unwrap();
    assert_eq!((wrong.status().as_u16(), cookie_of(&wrong)), (302, None));
    let right = login(VCO_PASSWORD).await.unwrap();
    assert_eq!(right.status(), 302);
    let session = cookie_of(&right).expect("a session cookie");

    // REST transport with the cookie; without any credentials the tokenError envelope.
    let list = |cookie: Option<&str>| {
        let req = http.post(format!("{rest}/enterpriseProxy/getEnterpriseProxyEnterprises")).json(&json!({}));
        match cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        }
        .send()
    };
    let listed = list(Some(&session)).await.unwrap();
    assert_eq!(listed.status(), 200);
    assert!(listed.json::<Json>().await.unwrap().is_array());
    let anonymous = list(None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Json>().await.unwrap()["error"]["code"], -32000);

    // JSON-RPC transport: results and errors in the JSON-RPC envelope, on HTTP 200.
    let call = |body: Json| http.post(&rpc).header("authorization", VCO_TOKEN).json(&body);
    let inserted = json_body(call(json!({
        "jsonrpc": "2.0", "id": 7, "method": "enterpriseProxy/insertEnterpriseProxyEnterprise", "params": insert_body("Rpc Co"),
    })))
    .await;
    assert_eq!(inserted["id"], 7, "{inserted}");
    assert!(inserted["result"]["id"].is_i64(), "{inserted}");
    let dup: Json = json_body(call(json!({"jsonrpc": "2.0", "id": 8, "method": "enterpriseProxy/insertEnterpriseProxyEnterprise", "params": insert_body("Rpc Co")}))).await;
    assert_eq!(dup["error"]["code"], -32603, "{dup}");
    assert!(dup["error"]["message"].as_str().unwrap().contains("already exists"), "{dup}");
    let old: Json =
        json_body(call(json!({"jsonrpc": "1.0", "id": 9, "method": "enterpriseProxy/getEnterpriseProxyEnterprises"})))
            .await;
    assert_eq!(old["error"]["code"], -32600, "{old}");
    let garbled = http.post(&rpc).header("authorization", VCO_TOKEN).body("{").send().await.unwrap();
    assert_eq!(garbled.json::<Json>().await.unwrap()["error"]["code"], -32700);

    // The same refusal over REST is a 500 with the error body; the partner setting that
    // disables customer creation refuses every insert.
    let dup_rest = vco_insert(&served, "Rpc Co").await.unwrap();
    assert_eq!(dup_rest.status(), 500);
    served.post("/_sandbox/velocloud/creation", json!({"disabled": true})).await;
    let disabled = vco_insert(&served, "Brand New").await.unwrap();
    let body: Json = disabled.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("creation of customers is disabled"), "{body}");

    // Logging out ends the session.
    http.post(format!("{rest}/logout")).header("cookie", &session).send().await.unwrap();
    assert_eq!(list(Some(&session)).await.unwrap().status(), 401);

    // The leaky bucket: past 500 requests in 5 s, 429; asking during the penalty extends it;
    // once the clock is past it, answers again.
    let list_rpc =
        || call(json!({"jsonrpc": "2.0", "id": 1, "method": "enterpriseProxy/getEnterpriseProxyEnterprises"})).send();
    let mut throttled = false;
    for _ in 0..520 {
        if list_rpc().await.unwrap().status() == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "500 requests in a window are the VCO's budget");
    served.post("/_sandbox/clock", json!({"advanceSeconds": 4})).await;
    let during = list_rpc().await.unwrap();
    assert_eq!(during.status(), 429);
    served.post("/_sandbox/clock", json!({"advanceSeconds": 4})).await;
    let extended = list_rpc().await.unwrap();
    assert_eq!(extended.status(), 429, "the request during the penalty restarted it");
    served.post("/_sandbox/clock", json!({"advanceSeconds": 6})).await;
    let after = list_rpc().await.unwrap();
    assert_eq!(after.status(), 200);
}
