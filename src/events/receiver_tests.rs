use super::*;
use crate::events::{Accepted, Notice, StoredEvent};
use crate::model::UserKey;
use crate::state::Acceptance;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Accepts `POST` bodies `ID SENT_UNIX_SECONDS KEY` when header `x-test-signature` is `good`;
/// `GET ?echostr=X` is a handshake answered with X.
struct TestOpener;

impl Opener for TestOpener {
    fn open(&self, request: &Incoming<'_>, _now: Timestamp) -> Result<Opened, Refusal> {
        if request.method == IncomingMethod::Get {
            let echo = request
                .query
                .get("echostr")
                .ok_or_else(|| Refusal::Malformed("no echostr".into()))?;
            return Ok(Opened::Handshake {
                reply: Reply::text(echo.clone()),
            });
        }
        if request.headers.get("x-test-signature").map(String::as_str) != Some("good") {
            return Err(Refusal::Forged);
        }
        let text = std::str::from_utf8(request.body).map_err(|_| Refusal::Undecryptable)?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let [id, sent, key] = words.as_slice() else {
            return Err(Refusal::Malformed("three words expected".into()));
        };
        let sent = sent
            .parse::<i64>()
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok())
            .ok_or_else(|| Refusal::Malformed("sent".into()))?;
        Ok(Opened::Event {
            accepted: Accepted {
                dedupe: (*id).to_owned(),
                sent_at: sent,
                event: StoredEvent {
                    event_type: "test".into(),
                    received_at: Timestamp::now(),
                    occurred_at: None,
                    notices: vec![Notice::People {
                        keys: vec![UserKey::new(*key)],
                    }],
                },
            },
            reply: Reply::text(format!("ok {id}")),
        })
    }
}

#[derive(Default)]
struct TestSink {
    seen: Mutex<BTreeSet<String>>,
    stored: Mutex<Vec<StoredEvent>>,
    refused: Mutex<Vec<&'static str>>,
    broken: std::sync::atomic::AtomicBool,
}

impl EventSink for TestSink {
    fn accept(&self, _connector: &str, accepted: Accepted) -> Result<Acceptance, SinkError> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SinkError::Storage("disk full".into()));
        }
        if !self.seen.lock().unwrap().insert(accepted.dedupe) {
            return Ok(Acceptance::Duplicate);
        }
        let mut stored = self.stored.lock().unwrap();
        stored.push(accepted.event);
        Ok(Acceptance::Stored(stored.len() as u64))
    }

    fn refused(&self, _connector: &str, refusal: &Refusal) {
        self.refused.lock().unwrap().push(refusal.label());
    }
}

async fn start(sink: Arc<TestSink>) -> String {
    let mut endpoints = Endpoints::default();
    endpoints.insert("hq", Arc::new(TestOpener), Duration::from_secs(60));
    let receiver = Receiver::new(endpoints, sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(receiver)).await });
    format!("http://{addr}")
}

async fn post(base: &str, path: &str, signature: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("X-Test-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn now() -> i64 {
    Timestamp::now().as_second()
}

#[tokio::test]
async fn a_handshake_is_answered_with_the_decoded_query_and_nothing_is_stored() {
    let sink = Arc::new(TestSink::default());
    let base = start(Arc::clone(&sink)).await;
    let response = reqwest::get(format!("{base}/events/hq?echostr=a%2Bb+c%3D%3D&x=1"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "a+b+c==");
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_is_stored_before_its_answer_and_a_retry_gets_the_same_answer_once_stored() {
    let sink = Arc::new(TestSink::default());
    let base = start(Arc::clone(&sink)).await;
    let body = format!("e1 {} zhangsan", now());
    assert_eq!(
        post(&base, "/events/hq", "good", body.clone()).await,
        (200, "ok e1".into())
    );
    assert_eq!(
        post(&base, "/events/hq", "good", body).await,
        (200, "ok e1".into())
    );
    let stored = sink.stored.lock().unwrap();
    assert_eq!(stored.len(), 1, "a platform's retry is stored once");
    assert_eq!(
        stored[0].notices,
        vec![Notice::People {
            keys: vec![UserKey::new("zhangsan")]
        }]
    );
}

#[tokio::test]
async fn refusals_are_answered_with_their_label_and_counted() {
    let sink = Arc::new(TestSink::default());
    let base = start(Arc::clone(&sink)).await;
    let fresh = format!("e1 {} a", now());
    assert_eq!(
        post(&base, "/events/hq", "bad", fresh).await,
        (403, "forged".into())
    );
    assert_eq!(
        post(&base, "/events/hq", "good", "only two".into()).await,
        (400, "malformed".into())
    );
    let old = format!("e2 {} a", now() - 3600);
    assert_eq!(
        post(&base, "/events/hq", "good", old).await,
        (403, "stale".into())
    );
    let ahead = format!("e3 {} a", now() + 3600);
    assert_eq!(
        post(&base, "/events/hq", "good", ahead).await,
        (403, "stale".into())
    );
    assert_eq!(
        *sink.refused.lock().unwrap(),
        vec!["forged", "malformed", "stale", "stale"]
    );
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_connectors_paths_and_oversized_bodies_are_refused_before_the_opener() {
    let sink = Arc::new(TestSink::default());
    let base = start(Arc::clone(&sink)).await;
    let fresh = format!("e1 {} a", now());
    assert_eq!(
        post(&base, "/events/other", "good", fresh.clone()).await.0,
        404
    );
    assert_eq!(post(&base, "/elsewhere", "good", fresh).await.0, 404);
    let huge = "x".repeat(MAX_BODY + 1);
    assert_eq!(post(&base, "/events/hq", "good", huge).await.0, 413);
    assert!(sink.refused.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_the_state_cannot_store_is_answered_503_so_the_platform_retries() {
    let sink = Arc::new(TestSink::default());
    sink.broken.store(true, std::sync::atomic::Ordering::SeqCst);
    let base = start(Arc::clone(&sink)).await;
    let body = format!("e1 {} a", now());
    assert_eq!(post(&base, "/events/hq", "good", body).await.0, 503);
}

#[test]
fn query_values_are_percent_decoded_and_the_last_repeat_wins() {
    let pairs = query_pairs("a=1&b=%E4%B8%AD&a=2&c&d=%zz&e=%4");
    assert_eq!(pairs.get("a").map(String::as_str), Some("2"));
    assert_eq!(pairs.get("b").map(String::as_str), Some("中"));
    assert_eq!(pairs.get("c").map(String::as_str), Some(""));
    assert_eq!(pairs.get("d").map(String::as_str), Some("%zz"));
    assert_eq!(pairs.get("e").map(String::as_str), Some("%4"));
}

#[test]
fn the_age_check_refuses_both_ways() {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let max = Duration::from_secs(300);
    let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
    assert!(check_age(at(-300), now, max).is_ok());
    assert!(check_age(at(300), now, max).is_ok());
    assert_eq!(check_age(at(-301), now, max), Err(Refusal::Stale));
    assert_eq!(check_age(at(301), now, max), Err(Refusal::Stale));
}
