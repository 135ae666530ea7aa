//! OAuth 2 bearer tokens, one per connection and shared by every call on it.
//!
//! A [`TokenSource`] fetches a token when a call needs one and none is fresh. Calls that need
//! one at the same moment (the pages of a list, fetched concurrently) wait for a single fetch
//! instead of each signing in. The token is kept until shortly before it expires, and
//! forgotten after a 401. A refresh token is used when the vendor issued one, with a fresh
//! sign-in if the refresh is refused.
//!
//! A fetch is one attempt ([`Http::send_once`]): the request that needed the token owns the
//! retries, so a vendor whose token endpoint fails costs the request's retry budget, not that
//! budget squared.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::http::{Http, Req, Resp};
use super::{ErrorKind, VendorError};
use crate::model::Vendor;

/// How one vendor asks for a token and says no.
pub trait Grant: Send + Sync {
    fn vendor(&self) -> Vendor;
    /// The token request: a sign-in, or a refresh when `refresh` holds the vendor's refresh
    /// token. It must be [`Req::anonymous`] (which also keeps its answer out of messages).
    fn request(&self, refresh: Option<&str>) -> Req;
    /// The error for an answer that refused the sign-in: the vendor's words and the settings
    /// to check.
    fn refused(&self, resp: &Resp) -> VendorError;
}

/// An OAuth 2 token answer (RFC 6749 section 5.1), as far as tenantry reads it.
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    access: String,
    refresh: Option<String>,
    expires: Instant,
}

/// The bearer token of one connection.
pub struct TokenSource<G: Grant> {
    grant: G,
    /// Lifetime assumed when the answer names none.
    default_ttl: Duration,
    cached: std::sync::Mutex<Option<Cached>>,
    /// Held while a token is fetched, so concurrent calls wait for that one fetch.
    flight: tokio::sync::Mutex<()>,
}

impl<G: Grant> TokenSource<G> {
    pub fn new(grant: G, default_ttl: Duration) -> Self {
        TokenSource { grant, default_ttl, cached: std::sync::Mutex::new(None), flight: tokio::sync::Mutex::new(()) }
    }

    pub fn grant(&self) -> &G {
        &self.grant
    }

    fn fresh(&self) -> Option<String> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached.as_ref().filter(|t| t.expires > Instant::now()).map(|t| t.access.clone())
    }

    /// A fresh access token, fetched through `http` if there is none.
    pub async fn bearer(&self, http: &Http) -> Result<String, VendorError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let _flight = self.flight.lock().await;
        // Another call may have fetched one while this one waited.
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let refresh = self.cached.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(|t| t.refresh.clone());
        let mut resp = http.send_once(&self.grant.request(refresh.as_deref())).await?;
        if !resp.status.is_success() && refresh.is_some() {
            // A refused refresh token: sign in again.
            resp = http.send_once(&self.grant.request(None)).await?;
        }
        if !resp.status.is_success() {
            return Err(self.grant.refused(&resp));
        }
        let answer: TokenAnswer = resp.decode()?;
        let ttl = answer.expires_in.map(Duration::from_secs).unwrap_or(self.default_ttl);
        // Renew a minute early (at least 30 s after the fetch), so a call never carries a
        // token that expires on the way.
        let ttl = ttl.saturating_sub(Duration::from_secs(60)).max(Duration::from_secs(30));
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            access: answer.access_token.clone(),
            refresh: answer.refresh_token,
            expires: Instant::now() + ttl,
        });
        Ok(answer.access_token)
    }

    /// Forget the access token the vendor refused (`refused`, from the request's headers), if
    /// it is still the cached one: a call refused with an older token must not expire a token
    /// another call has just fetched. A refresh token is kept.
    pub fn invalidate(&self, refused: Option<&str>) {
        if let Some(t) = self.cached.lock().unwrap_or_else(|p| p.into_inner()).as_mut()
            && refused.is_none_or(|r| r == t.access)
        {
            t.expires = Instant::now();
        }
    }
}

/// The bearer token among headers a request was sent with.
pub fn sent_bearer(sent: &[(HeaderName, HeaderValue)]) -> Option<&str> {
    sent.iter()
        .find(|(k, _)| k == reqwest::header::AUTHORIZATION)
        .and_then(|(_, v)| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `Authorization: Bearer <token>`.
pub fn bearer_header(vendor: Vendor, token: &str) -> Result<(HeaderName, HeaderValue), VendorError> {
    let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        VendorError::new(vendor, ErrorKind::Unreadable, "token", "the token the vendor issued is not valid header text")
    })?;
    Ok((reqwest::header::AUTHORIZATION, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoGrant;
    impl Grant for NoGrant {
        fn vendor(&self) -> Vendor {
            Vendor::Acronis
        }
        fn request(&self, _refresh: Option<&str>) -> Req {
            Req::post("/token").anonymous()
        }
        fn refused(&self, _resp: &Resp) -> VendorError {
            VendorError::new(Vendor::Acronis, ErrorKind::Auth, "token", "refused")
        }
    }

    #[test]
    fn a_refusal_of_an_older_token_does_not_expire_the_newer_one() {
        let tokens = TokenSource::new(NoGrant, Duration::from_secs(600));
        let cache = |access: &str| {
            *tokens.cached.lock().unwrap() = Some(Cached {
                access: access.into(),
                refresh: None,
                expires: Instant::now() + Duration::from_secs(600),
            });
        };
        cache("t2");
        tokens.invalidate(Some("t1"));
        assert_eq!(tokens.fresh().as_deref(), Some("t2"), "a call refused with t1 leaves t2 alone");
        tokens.invalidate(Some("t2"));
        assert_eq!(tokens.fresh(), None);
        cache("t3");
        tokens.invalidate(None);
        assert_eq!(tokens.fresh(), None, "no token sent: forget what is cached");

        let sent = [bearer_header(Vendor::Acronis, "abc").unwrap()];
        assert_eq!(sent_bearer(&sent), Some("abc"));
        assert_eq!(sent_bearer(&[]), None);
    }
}
