//! A blocking client for the companion's HTTP API, for tests that drive a running binary.

use std::time::{Duration, Instant};

use serde_json::Value;

/// The API of one running companion.
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    token: Option<String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    /// The API at `127.0.0.1:port`, sending `token` (when given) as the bearer token.
    pub fn new(port: u16, token: Option<&str>) -> anyhow::Result<Api> {
        Api::at(&format!("http://127.0.0.1:{port}"), token)
    }

    /// The API at `base` (`http://IP:PORT`).
    pub fn at(base: &str, token: Option<&str>) -> anyhow::Result<Api> {
        Ok(Api {
            base: base.to_string(),
            token: token.map(str::to_string),
            // A fresh connection per call: the runtime below runs only inside `call`, so a
            // pooled connection would never see the companion close it when idle
            // (`http.header_timeout_s`) and would fail the next request.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(0)
                .build()?,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// One request; `(0, Null)` when nothing answered, `Null` for a body that is not JSON.
    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = self.http.request(method, format!("{}{path}", self.base));
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            }
        })
    }

    /// `GET path` as text, which must answer 200: its content type and body.
    pub fn get_text(&self, path: &str) -> anyhow::Result<(String, String)> {
        self.rt.block_on(async {
            let mut req = self.http.get(format!("{}{path}", self.base));
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await?;
            let status = r.status().as_u16();
            let kind = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = r.text().await?;
            anyhow::ensure!(status == 200, "GET {path}: {status} {text}");
            Ok((kind, text))
        })
    }

    /// `GET path`, which must answer 200.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.call(reqwest::Method::GET, path, None);
        anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// Polls `GET path` until `pred` holds, for at most `limit`.
    pub fn wait_for(
        &self,
        what: &str,
        path: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.call(reqwest::Method::GET, path, None);
            if status == 200 && pred(&body) {
                return Ok(body);
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "timed out after {limit:?} waiting for {what}; last {status}: {body}"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
