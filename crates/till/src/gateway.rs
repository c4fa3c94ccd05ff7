//! `znak gateway`: the checker as a local HTTP service for till programs that cannot embed
//! Rust. `POST /check`, `POST /sold`, `POST /returned`, `GET /state`; JSON in and out, every
//! error a JSON body `{"code": <HTTP status>, "description": "..."}` naming what is wrong (the
//! local module's convention, so a till program reads both the same way).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::checker::{CheckRequest, Checker, SetupError};
use crate::config::TillConfig;
use crate::queue::{Operation, QueueError, SoldQueue};

/// How often background upkeep runs (CDN refresh when due, probes) and the longest the
/// delivery task sleeps between looks at the queue.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);
const BODY_LIMIT: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("gateway server failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Clone)]
struct App {
    checker: Checker,
    queue: SoldQueue,
    /// Wakes the one delivery task after an enqueue.
    wake_delivery: Arc<Notify>,
}

/// Serves until `shutdown` completes.
pub async fn run(
    config: TillConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let checker = Checker::new(config)?;
    run_with(checker, listener, shutdown).await
}

/// As [`run`], with a checker built by the caller (tests inject a clock).
pub async fn run_with(
    checker: Checker,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let queue = SoldQueue::open(&checker.config().queue_path()).map_err(SetupError::from)?;
    checker.watch_module();
    let app = App {
        checker,
        queue,
        wake_delivery: Arc::new(Notify::new()),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let upkeep = {
        let app = app.clone();
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                app.checker.maintain().await;
                tokio::select! {
                    _ = tokio::time::sleep(UPKEEP_EVERY) => {}
                    _ = stop_rx.changed() => break,
                }
            }
        })
    };
    let delivery = tokio::spawn(deliveries(app.clone(), stop_rx));
    let router = Router::new()
        .route("/check", post(check))
        .route("/sold", post(sold))
        .route("/returned", post(returned))
        .route("/state", get(state))
        .fallback(|uri: Uri| async move {
            let description = format!(
                "no such endpoint: {} (the gateway serves POST /check, /sold, /returned and GET /state)",
                uri.path()
            );
            error(StatusCode::NOT_FOUND, description)
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            let description = format!("method {method} is not allowed on {}", uri.path());
            error(StatusCode::METHOD_NOT_ALLOWED, description)
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app);
    // Small answers must not wait for the peer's delayed ACK (Nagle).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
    upkeep.abort();
    delivery.abort();
    served.map_err(GatewayError::Serve)
}

/// An error answer: `{"code": <HTTP status>, "description": "..."}`, as the module answers.
fn error(status: StatusCode, description: String) -> Response {
    let body = protocol::lm::ErrorBody {
        code: status.as_u16(),
        description,
        error_code: None,
    };
    (status, axum::Json(body)).into_response()
}

/// The body as JSON of `T`; an unreadable or oversized body is the caller's mistake, named.
fn parse<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Box<Response>> {
    let body = body.map_err(|rejection| {
        Box::new(error(
            rejection.status(),
            format!("request body: {}", rejection.body_text()),
        ))
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, format!("request body: {e}"))))
}

async fn check(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: CheckRequest = match parse(body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    match app.checker.check(request).await {
        Ok(outcome) => axum::Json(outcome).into_response(),
        Err(err) => error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Codes {
    /// Scanned codes (KM) or KIs.
    codes: Vec<String>,
}

async fn sold(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> Response {
    register(app, body, Operation::Sell).await
}

async fn returned(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> Response {
    register(app, body, Operation::Return).await
}

async fn register(app: App, body: Result<Bytes, BytesRejection>, op: Operation) -> Response {
    let codes: Codes = match parse(body) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    if codes.codes.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "codes is empty: nothing to register".into(),
        );
    }
    let mut kis = Vec::with_capacity(codes.codes.len());
    for (index, code) in codes.codes.iter().enumerate() {
        match marking::ki(code) {
            Ok(ki) => kis.push(ki),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("codes[{index}]: {e}")),
        }
    }
    match app.queue.enqueue(op, kis.clone(), app.checker.now()) {
        Ok(id) => {
            app.wake_delivery.notify_one();
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"queued": id, "kis": kis})),
            )
                .into_response()
        }
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// The only task that sends the queue to the module: one entry at a time, in order. It runs
/// when woken by an enqueue, when the head's backoff runs out, and at least every
/// [`UPKEEP_EVERY`] (another process may have queued something).
async fn deliveries(app: App, mut stop: watch::Receiver<bool>) {
    loop {
        let wait = deliver_due(&app).await.unwrap_or_else(|err| {
            tracing::error!(%err, "sold queue unusable");
            UPKEEP_EVERY
        });
        tokio::select! {
            _ = app.wake_delivery.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Sends what is due; returns how long to wait before looking again.
async fn deliver_due(app: &App) -> Result<Duration, QueueError> {
    let Some(module) = app.checker.module() else {
        return Ok(UPKEEP_EVERY);
    };
    app.queue.flush(module, app.checker.now()).await?;
    if app.queue.confirm(module, app.checker.now()).await? > 0 {
        // Lost sales were queued again: send them now.
        app.queue.flush(module, app.checker.now()).await?;
    }
    Ok(match app.queue.next_due_ms()? {
        Some(due) => {
            let ms = u64::try_from(due - app.checker.now()).unwrap_or(0);
            Duration::from_millis(ms).min(UPKEEP_EVERY)
        }
        None => UPKEEP_EVERY,
    })
}

async fn state(State(app): State<App>) -> Response {
    let cdn = serde_json::to_value(app.checker.state()).unwrap_or(Value::Null);
    let queue = match app.queue.read() {
        Ok(q) => json!({"pending": q.pending.len(), "items": q.pending,
                        "unconfirmed": q.confirming.len(), "confirming": q.confirming}),
        Err(e) => json!({"error": e.to_string()}),
    };
    // The watcher's view, never a live request: /state answers at once even when the module
    // hangs.
    let module = match (
        app.checker.config().module.as_ref(),
        app.checker.module_readiness(),
    ) {
        (Some(config), Some(readiness)) => {
            let mut view = serde_json::to_value(readiness).unwrap_or(Value::Null);
            if let Some(map) = view.as_object_mut() {
                map.insert("configured".into(), Value::Bool(true));
                map.insert("url".into(), Value::String(config.url.clone()));
            }
            view
        }
        _ => json!({"configured": false}),
    };
    axum::Json(json!({"cdn": cdn, "module": module, "queue": queue})).into_response()
}
