use std::time::Duration;

use bytes::{Bytes, BytesMut};
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Request, Response, Url};

use super::error::{describe, TimeoutPhase, UpstreamError};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    /// How long an idle keep-alive connection stays in the pool.
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 1024,
            user_agent: concat!("pllm/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Method, URL and headers of one upstream endpoint, parsed and validated once (at startup)
/// so that a request only clones them.
#[derive(Debug, Clone)]
pub struct Target {
    method: Method,
    url: Url,
    headers: HeaderMap,
}

impl Target {
    pub fn new(
        method: &str,
        url: &str,
        headers: &[(String, String)],
    ) -> Result<Self, UpstreamError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| UpstreamError::InvalidRequest(format!("bad method {method:?}")))?;
        let url =
            Url::parse(url).map_err(|e| UpstreamError::InvalidRequest(format!("bad URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UpstreamError::InvalidRequest(
                "the URL must be http or https".into(),
            ));
        }
        let mut map = HeaderMap::with_capacity(headers.len() + 1);
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| UpstreamError::InvalidRequest(format!("bad header name {name:?}")))?;
            // The value may be a secret: never echo it.
            let value = HeaderValue::from_str(value).map_err(|_| {
                UpstreamError::InvalidRequest(format!("bad value for header {name}"))
            })?;
            map.append(name, value);
        }
        Ok(Self {
            method,
            url,
            headers: map,
        })
    }
}

/// One request to send. The body is already encoded by the provider adapter.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub target: Arc<Target>,
    /// Sent as `x-request-id` so upstream logs can be joined with ours.
    pub request_id: Option<HeaderValue>,
    /// W3C trace context of the attempt (tracing on), sent as `traceparent`.
    pub traceparent: Option<HeaderValue>,
    pub body: Bytes,
    /// From the end of connecting until the response head has arrived.
    pub first_byte_timeout: Duration,
    /// Longest silence allowed between two body chunks.
    pub chunk_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// A response body still on the wire. Dropping it closes (or returns to the pool) the
/// connection, which is how an abandoned stream cancels the upstream request.
#[derive(Debug)]
pub struct UpstreamBody {
    resp: Response,
    chunk_timeout: Duration,
}

/// A pooled client; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    client: Client,
}

impl UpstreamClient {
    pub fn new(cfg: &ClientConfig) -> Result<Self, UpstreamError> {
        let client = Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(cfg.user_agent.clone())
            .build()
            .map_err(|e| UpstreamError::InvalidRequest(describe(e)))?;
        Ok(Self { client })
    }

    /// Sends the request and waits for the response head (not the body).
    pub async fn send(
        &self,
        spec: RequestSpec,
    ) -> Result<(ResponseHead, UpstreamBody), UpstreamError> {
        let target = &spec.target;
        let mut request = Request::new(target.method.clone(), target.url.clone());
        *request.headers_mut() = target.headers.clone();
        if let Some(id) = spec.request_id {
            request.headers_mut().insert(REQUEST_ID, id);
        }
        if let Some(trace) = spec.traceparent {
            request.headers_mut().insert(TRACEPARENT, trace);
        }
        *request.body_mut() = Some(spec.body.into());
        let resp = match tokio::time::timeout(spec.first_byte_timeout, self.client.execute(request))
            .await
        {
            Err(_) => return Err(UpstreamError::Timeout(TimeoutPhase::FirstByte)),
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(r)) => r,
        };
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let head = ResponseHead {
            status: resp.status().as_u16(),
            headers,
        };
        Ok((
            head,
            UpstreamBody {
                resp,
                chunk_timeout: spec.chunk_timeout,
            },
        ))
    }
}

impl UpstreamBody {
    /// The next piece of the body as it arrived, `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        match tokio::time::timeout(self.chunk_timeout, self.resp.chunk()).await {
            Err(_) => Err(UpstreamError::Timeout(TimeoutPhase::BetweenChunks)),
            Ok(Err(e)) => Err(classify(e)),
            Ok(Ok(c)) => Ok(c),
        }
    }

    /// Reads the whole body, failing once it exceeds `max_bytes`.
    pub async fn read_all(mut self, max_bytes: usize) -> Result<Bytes, UpstreamError> {
        let first = match self.next_chunk().await? {
            None => return Ok(Bytes::new()),
            Some(c) => c,
        };
        // Most JSON replies arrive in one chunk: hand that chunk over without copying.
        let Some(second) = self.next_chunk().await? else {
            return check_size(first, max_bytes);
        };
        let mut buf = BytesMut::with_capacity(first.len() + second.len());
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second);
        while let Some(c) = self.next_chunk().await? {
            if buf.len() + c.len() > max_bytes {
                return Err(UpstreamError::BodyTooLarge(max_bytes));
            }
            buf.extend_from_slice(&c);
        }
        check_size(buf.freeze(), max_bytes)
    }
}

fn check_size(b: Bytes, max_bytes: usize) -> Result<Bytes, UpstreamError> {
    if b.len() > max_bytes {
        Err(UpstreamError::BodyTooLarge(max_bytes))
    } else {
        Ok(b)
    }
}

fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_connect() {
        if e.is_timeout() {
            UpstreamError::Timeout(TimeoutPhase::Connect)
        } else {
            UpstreamError::Connect(describe(e))
        }
    } else if e.is_builder() {
        UpstreamError::InvalidRequest(describe(e))
    } else {
        UpstreamError::Protocol(describe(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn spec(url: String) -> RequestSpec {
        let headers = [("content-type".to_owned(), "application/json".to_owned())];
        RequestSpec {
            target: Arc::new(Target::new("POST", &url, &headers).unwrap()),
            request_id: Some(HeaderValue::from_static("req-1")),
            traceparent: None,
            body: Bytes::from_static(b"{}"),
            first_byte_timeout: Duration::from_millis(300),
            chunk_timeout: Duration::from_millis(300),
        }
    }

    /// A one-shot server: reads the request head, then writes the scripted pieces with pauses.
    async fn serve(pieces: Vec<(u64, &'static [u8])>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                for (pause_ms, bytes) in pieces {
                    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                    if sock.write_all(bytes).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        format!("http://{addr}/v1/chat/completions")
    }

    const HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

    /// A chunked "hello world" in two chunks, the second `pause_ms` after the first.
    fn hello_world(pause_ms: u64) -> Vec<(u64, &'static [u8])> {
        vec![
            (0, HEAD),
            (0, b"5\r\nhello\r\n"),
            (pause_ms, b"6\r\n world\r\n0\r\n\r\n"),
        ]
    }

    fn client() -> UpstreamClient {
        UpstreamClient::new(&ClientConfig::default()).unwrap()
    }

    /// Sends a request to a one-shot server that answers with `pieces`.
    async fn exchange(
        pieces: Vec<(u64, &'static [u8])>,
    ) -> Result<(ResponseHead, UpstreamBody), UpstreamError> {
        let url = serve(pieces).await;
        client().send(spec(url)).await
    }

    #[tokio::test]
    async fn reads_a_chunked_body() {
        let (head, body) = exchange(hello_world(50)).await.unwrap();
        assert_eq!(head.status, 200);
        assert!(head
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "text/event-stream"));
        assert_eq!(
            body.read_all(1 << 20).await.unwrap().as_ref(),
            b"hello world"
        );
    }

    #[tokio::test]
    async fn body_over_the_cap_is_refused() {
        let (_, body) = exchange(hello_world(0)).await.unwrap();
        assert_eq!(
            body.read_all(8).await.err(),
            Some(UpstreamError::BodyTooLarge(8))
        );
    }

    #[tokio::test]
    async fn silent_upstream_hits_first_byte_timeout() {
        let started = std::time::Instant::now();
        let res = exchange(vec![]).await;
        assert_eq!(
            res.err(),
            Some(UpstreamError::Timeout(TimeoutPhase::FirstByte))
        );
        assert!(started.elapsed() < Duration::from_millis(1000));
    }

    #[tokio::test]
    async fn stalled_body_hits_chunk_timeout() {
        let (_, mut body) = exchange(vec![(0, HEAD), (0, b"5\r\nhello\r\n")])
            .await
            .unwrap();
        assert_eq!(body.next_chunk().await.unwrap().unwrap().as_ref(), b"hello");
        assert_eq!(
            body.next_chunk().await.err(),
            Some(UpstreamError::Timeout(TimeoutPhase::BetweenChunks))
        );
    }

    #[test]
    fn targets_are_validated_once() {
        let ok = [("authorization".to_owned(), "Bearer k".to_owned())];
        assert!(Target::new("POST", "https://api.example.com/v1/x", &ok).is_ok());
        assert!(Target::new("POST", "ftp://h/", &ok).is_err());
        assert!(Target::new("POST", "not a url", &ok).is_err());
        assert!(Target::new("P O", "http://h/", &ok).is_err());
        let bad = [("authorization".to_owned(), "Bearer k\nx".to_owned())];
        let err = Target::new("POST", "http://h/", &bad)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("Bearer"), "{err}");
    }

    #[tokio::test]
    async fn refused_connection_is_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let res = client().send(spec(format!("http://{addr}/"))).await;
        assert!(matches!(res, Err(UpstreamError::Connect(_))), "{res:?}");
    }
}
