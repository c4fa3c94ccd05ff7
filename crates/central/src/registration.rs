//! `POST /lm/v1/register` (docs/registration.md): token → inst, INN and replication source.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use protocol::registration::{
    Databases, REGISTER_PATH, RegisterRequest, RegisterResponse, ReplicationSource,
};
use rand::distr::{Alphanumeric, SampleString};

use crate::http_error::{ApiError, JsonBody};
use crate::replication::PREFIX;
use crate::state::AppState;
use crate::store::Registration;

pub fn routes() -> Router<AppState> {
    Router::new().route(REGISTER_PATH, post(register))
}

async fn register(
    State(app): State<AppState>,
    body: Result<JsonBody<RegisterRequest>, ApiError>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let JsonBody(request) = body?;
    let inn = app
        .token_inn(request.token.trim())
        .ok_or_else(|| ApiError::unauthorized("token: not a token issued by this operator"))?;
    let inst = uuid::Uuid::new_v4().to_string();
    let username = format!("lm-{}", &inst[..8]);
    let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let registration = Registration {
        inst: inst.clone(),
        inn: inn.clone(),
        password: password.clone(),
    };
    app.add_module(username.clone(), registration).await?;
    Ok(Json(RegisterResponse {
        inst,
        inn,
        replication: ReplicationSource {
            url: format!("{}{PREFIX}", app.urls.main),
            databases: Databases::default(),
            username,
            password,
        },
    }))
}
