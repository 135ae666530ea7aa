//! Contract tests of the simulators over real HTTP (reqwest), below tenantry's clients: each
//! fault kind the sandbox injects, in the vendor's own shape, and that a "lost" answer still
//! commits. (Routes, bodies and auth refusals against the specifications: see `specs`.)

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

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_fault_cuts_the_connection_and_commits_nothing() {
    let served = Served::start(&["--faults", "velocloud:drop=1"]);
    let outcome = match vco_insert(&served, "Drop Co").await {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the answer should be cut off");
    assert!(enterprises(&served.dump().await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lose_fault_commits_then_cuts_the_answer() {
    let served = Served::start(&["--faults", "velocloud:lose=1"]);
    let outcome = match vco_insert(&served, "Lost Co").await {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the answer should be cut off");
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
async fn acronis_token(base: &str) -> String {
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
        let page: Json = http.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
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
