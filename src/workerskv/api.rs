//! Cloudflare's REST API v4, the KV endpoints of one namespace: each call
//! one HTTP request, answered in Cloudflare's envelope
//! (`{"success", "errors", "result", "result_info"}`), with the retries,
//! the waits a rate limit asks for, and the timeouts of every call.
//!
//! Every request here may be sent twice: a bulk write stores fixed values
//! and expiry instants, a delete deletes, a read reads. So a request that
//! failed in a way that may pass (no connection, no answer in time, 429,
//! a 5xx) is sent again, up to `retries` times.

use super::WorkersKvConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::net::http::{source_chain, HttpsClient};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value};
use std::time::Duration;

/// The longest wait a `Retry-After` may ask for that is honoured; a longer
/// one fails the call at once (as `Busy`) rather than hold it for minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The pause before retry `n + 1` when the server names none: 250 ms,
/// doubling, at most 8 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(5)).min(Duration::from_secs(8))
}

/// An entry as a bulk read gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub value: String,
    /// `metadata.expires`, in epoch milliseconds, when the metadata has it.
    pub expires: Option<f64>,
}

/// A key as a listing gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub name: String,
    /// `metadata.expires` (epoch milliseconds), when the metadata has it.
    pub expires: Option<f64>,
    /// Cloudflare's own expiry (epoch seconds), when the key has one.
    pub expiration: Option<i64>,
}

/// One page of a listing: its keys, and the cursor of the next page
/// (`None` when this is the last).
pub struct KeyPage {
    pub keys: Vec<Listed>,
    pub cursor: Option<String>,
}

/// One pair of a bulk write.
#[derive(Clone, Debug)]
pub struct Put {
    pub key: String,
    pub value: String,
    /// Seconds, at least 60 (Cloudflare's minimum).
    pub expiration_ttl: Option<u64>,
    /// `metadata.expires`: the exact expiry, epoch milliseconds.
    pub expires: Option<i64>,
}

/// The KV endpoints of one namespace.
pub struct Api {
    client: HttpsClient,
    /// `…/accounts/{account}/storage/kv/namespaces/{namespace}`.
    base: String,
    authorization: HeaderValue,
    /// For messages: the namespace, as `account/namespace`.
    place: String,
    response_timeout: Duration,
    retries: u32,
}

/// How one attempt ended.
enum Attempt {
    Answer(Value),
    /// Failed in a way that may pass: the error, and how long the server
    /// asked to wait first (`Retry-After`).
    Again(Error, Option<Duration>),
    Fail(Error),
}

impl Api {
    pub fn new(config: &WorkersKvConfig) -> Result<Api> {
        let client = crate::net::http::client(config.connect_timeout)
            .map_err(|e| Error::new(ErrorKind::Connection, format!("Workers KV: {e}")))?;
        let authorization = HeaderValue::from_str(&format!("Bearer {}", config.api_token))
            .map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOption,
                    "WorkersKvStore: the API token holds characters no HTTP header can carry",
                )
            })?;
        let base = format!(
            "{}/accounts/{}/storage/kv/namespaces/{}",
            config.api_url.trim_end_matches('/'),
            config.account_id,
            config.namespace_id
        );
        Ok(Api {
            client,
            base,
            authorization,
            place: format!("{}/{}", config.account_id, config.namespace_id),
            response_timeout: config.response_timeout,
            retries: config.retries,
        })
    }

    /// That the token reaches the namespace: its title.
    pub async fn namespace(&self) -> Result<String> {
        let result = self
            .call(Method::GET, "", None, "reading the namespace")
            .await?;
        Ok(result
            .get("result")
            .and_then(|r| r.get("title"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// The entries of up to 100 keys, `None` for those that have none.
    pub async fn bulk_get(&self, keys: &[String]) -> Result<Vec<Option<Stored>>> {
        let body = serde_json::json!({ "keys": keys, "type": "text", "withMetadata": true });
        let answer = self
            .call(Method::POST, "/bulk/get", Some(body), "reading keys")
            .await?;
        let values = answer
            .get("result")
            .and_then(|r| r.get("values"))
            .and_then(Value::as_object)
            .ok_or_else(|| self.malformed("a bulk read", "no result.values"))?;
        keys.iter()
            .map(|key| match values.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(entry)) => match entry.get("value") {
                    Some(Value::String(value)) => Ok(Some(Stored {
                        value: value.clone(),
                        expires: expires_of(entry.get("metadata")),
                    })),
                    None | Some(Value::Null) => Ok(None),
                    Some(_) => Err(self.malformed("a bulk read", "a value that is not text")),
                },
                Some(_) => Err(self.malformed("a bulk read", "an entry that is not an object")),
            })
            .collect()
    }

    /// Writes every pair; the keys Cloudflare says it did not write.
    pub async fn bulk_put(&self, puts: &[Put]) -> Result<Vec<String>> {
        let body: Vec<Value> = puts
            .iter()
            .map(|put| {
                let mut item = Map::new();
                item.insert("key".into(), put.key.clone().into());
                item.insert("value".into(), put.value.clone().into());
                if let Some(ttl) = put.expiration_ttl {
                    item.insert("expiration_ttl".into(), ttl.into());
                }
                let mut metadata = Map::new();
                if let Some(at) = put.expires {
                    metadata.insert("expires".into(), at.into());
                }
                item.insert("metadata".into(), metadata.into());
                Value::Object(item)
            })
            .collect();
        let answer = self
            .call(Method::PUT, "/bulk", Some(body.into()), "writing keys")
            .await?;
        Ok(unsuccessful(&answer))
    }

    /// Deletes every key; the keys Cloudflare says it did not delete.
    pub async fn bulk_delete(&self, keys: &[String]) -> Result<Vec<String>> {
        let answer = self
            .call(
                Method::POST,
                "/bulk/delete",
                Some(serde_json::json!(keys)),
                "deleting keys",
            )
            .await?;
        Ok(unsuccessful(&answer))
    }

    /// Up to `limit` (10 to 1,000) keys starting with `prefix`, in
    /// Cloudflare's order (bytewise), from `cursor` on.
    pub async fn list_keys(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage> {
        let path = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("prefix", prefix);
            query.append_pair("limit", &limit.to_string());
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            format!("/keys?{}", query.finish())
        };
        let answer = self.call(Method::GET, &path, None, "listing keys").await?;
        let keys = answer
            .get("result")
            .and_then(Value::as_array)
            .ok_or_else(|| self.malformed("a listing", "no result array"))?
            .iter()
            .map(|key| {
                let name = key
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.malformed("a listing", "a key with no name"))?;
                Ok(Listed {
                    name: name.to_owned(),
                    expires: expires_of(key.get("metadata")),
                    expiration: key
                        .get("expiration")
                        .and_then(Value::as_f64)
                        .map(|s| s as i64),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cursor = answer
            .get("result_info")
            .and_then(|info| info.get("cursor"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok(KeyPage { keys, cursor })
    }

    /// Sends one request (again, while it fails in a way that may pass) and
    /// returns the envelope of its answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| Bytes::from(b.to_string()));
        let mut attempt = 0;
        loop {
            let error = match self.attempt(&method, &url, body.clone(), what).await {
                Attempt::Answer(answer) => return Ok(answer),
                Attempt::Fail(error) => return Err(error),
                Attempt::Again(error, _) if attempt >= self.retries => {
                    return Err(gave_up(error, attempt));
                }
                Attempt::Again(error, Some(wait)) if wait > MAX_RETRY_AFTER => {
                    return Err(Error::new(
                        error.kind,
                        format!(
                            "{} (Cloudflare asked to wait {} s before trying again)",
                            error.message,
                            wait.as_secs()
                        ),
                    ));
                }
                Attempt::Again(_, Some(wait)) => wait,
                Attempt::Again(_, None) => backoff(attempt),
            };
            tokio::time::sleep(error).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<Bytes>,
        what: &str,
    ) -> Attempt {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json");
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(body)),
            None => request.body(Full::new(Bytes::new())),
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                return Attempt::Fail(Error::new(
                    ErrorKind::InvalidOption,
                    format!("Workers KV: cannot make a request of {url}: {e}"),
                ))
            }
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, retry_after, body))
        };
        let (status, retry_after, body) =
            match tokio::time::timeout(self.response_timeout, exchange).await {
                Err(_) => {
                    return Attempt::Again(
                        Error::new(
                            ErrorKind::Connection,
                            format!(
                                "Workers KV: {what}: no answer from Cloudflare within {} ms",
                                self.response_timeout.as_millis()
                            ),
                        ),
                        None,
                    )
                }
                Ok(Err(e)) => {
                    return Attempt::Again(
                        Error::new(
                            ErrorKind::Connection,
                            format!(
                                "Workers KV: {what}: cannot reach Cloudflare's API: {e}{}",
                                source_chain(&*e)
                            ),
                        ),
                        None,
                    )
                }
                Ok(Ok(answer)) => answer,
            };
        let envelope: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return match envelope {
                Some(answer) if answer.get("success") != Some(&Value::Bool(false)) => {
                    Attempt::Answer(answer)
                }
                Some(answer) => Attempt::Fail(self.refused(what, status, &answer)),
                None => Attempt::Fail(self.malformed(what, "an answer that is not JSON")),
            };
        }
        let error = self.refused(what, status, envelope.as_ref().unwrap_or(&Value::Null));
        match status {
            StatusCode::TOO_MANY_REQUESTS => Attempt::Again(error, retry_after),
            s if s.is_server_error() => Attempt::Again(error, retry_after),
            _ => Attempt::Fail(error),
        }
    }

    /// The error for an answer that says no: Cloudflare's codes and
    /// messages, with what to do for the common ones.
    fn refused(&self, what: &str, status: StatusCode, envelope: &Value) -> Error {
        let errors: Vec<String> = envelope
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let code = e.get("code").and_then(Value::as_i64);
                        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                        match code {
                            Some(code) => format!("{code} {message}"),
                            None => message.to_owned(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let said = if errors.is_empty() {
            String::new()
        } else {
            format!(": {}", errors.join("; "))
        };
        let (kind, hint) = match status.as_u16() {
            401 | 403 => (
                ErrorKind::Connection,
                "; the API token must be valid for the account and have the \
                 Workers KV Storage Edit permission",
            ),
            404 => (
                ErrorKind::Connection,
                "; check the account id and the namespace id",
            ),
            429 => (
                ErrorKind::Busy,
                "; Cloudflare's API allows 1,200 requests per 5 minutes to a user",
            ),
            _ => (ErrorKind::Backend, ""),
        };
        Error::new(
            kind,
            format!(
                "Workers KV: {what} in namespace {} failed: HTTP {}{said}{hint}",
                self.place,
                status.as_u16()
            ),
        )
    }

    fn malformed(&self, what: &str, why: &str) -> Error {
        Error::new(
            ErrorKind::Backend,
            format!(
                "Workers KV: {what} in namespace {}: Cloudflare's answer has {why}",
                self.place
            ),
        )
    }
}

/// `error`, saying that it is the last of `attempts + 1` tries.
fn gave_up(error: Error, retries: u32) -> Error {
    if retries == 0 {
        return error;
    }
    Error::new(
        error.kind,
        format!("{} (after {} attempts)", error.message, retries + 1),
    )
}

/// `metadata.expires` of a key's metadata, as Fedify writes it.
fn expires_of(metadata: Option<&Value>) -> Option<f64> {
    metadata?.get("expires")?.as_f64()
}

/// The keys a bulk write or delete says it did not handle.
fn unsuccessful(answer: &Value) -> Vec<String> {
    answer
        .get("result")
        .and_then(|r| r.get("unsuccessful_keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_eight_seconds() {
        let pauses: Vec<u64> = (0..8).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(pauses, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
    }

    #[test]
    fn expires_is_read_from_metadata() {
        let metadata = serde_json::json!({ "expires": 1700000000123.5 });
        assert_eq!(expires_of(Some(&metadata)), Some(1700000000123.5));
        assert_eq!(expires_of(Some(&serde_json::json!({}))), None);
        assert_eq!(expires_of(Some(&Value::Null)), None);
        assert_eq!(expires_of(None), None);
    }
}
