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
