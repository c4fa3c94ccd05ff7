//! State shared by every handler: the store, the fault board, the issued tokens and module
//! credentials (cached in memory, written through to the store), and the advertised URLs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;

use crate::chaos::ChaosBoard;
use crate::error::StoreError;
use crate::faults::FaultBoard;
use crate::http_error::ApiError;
use crate::store::{Registration, Store};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub faults: Arc<FaultBoard>,
    /// Random faults of the replication routes (off unless switched on).
    pub chaos: Arc<ChaosBoard>,
    pub urls: Arc<Urls>,
    auth: Arc<AuthCache>,
}

/// Base URLs clients are told to use.
#[derive(Debug, Clone)]
pub struct Urls {
    pub main: String,
    pub cdn: Vec<String>,
}

#[derive(Default)]
struct AuthCache {
    /// token → INN
    tokens: RwLock<HashMap<String, String>>,
    /// username → password
    modules: RwLock<HashMap<String, String>>,
}

impl AppState {
    pub fn new(store: Store, faults: FaultBoard, urls: Urls) -> Result<Self, StoreError> {
        let auth = AuthCache::default();
        if let Ok(mut tokens) = auth.tokens.write() {
            tokens.extend(store.tokens()?);
        }
        if let Ok(mut modules) = auth.modules.write() {
            modules.extend(
                store
                    .registrations()?
                    .into_iter()
                    .map(|(u, r)| (u, r.password)),
            );
        }
        Ok(Self {
            store,
            faults: Arc::new(faults),
            chaos: Arc::default(),
            urls: Arc::new(urls),
            auth: Arc::new(auth),
        })
    }

    pub async fn add_token(&self, token: String, inn: String) -> Result<(), StoreError> {
        let (t, i) = (token.clone(), inn.clone());
        self.store.blocking(move |s| s.add_token(&t, &i)).await?;
        if let Ok(mut tokens) = self.auth.tokens.write() {
            tokens.insert(token, inn);
        }
        Ok(())
    }

    /// Makes a new token (a UUID, as the operator's) for `inn` and stores it: the one way tokens
    /// come about, for the admin `token` command and the True API token method alike.
    pub async fn issue_token(&self, inn: String) -> Result<String, StoreError> {
        let token = uuid::Uuid::new_v4().to_string();
        self.add_token(token.clone(), inn).await?;
        Ok(token)
    }

    pub fn token_inn(&self, token: &str) -> Option<String> {
        self.auth.tokens.read().ok()?.get(token).cloned()
    }

    /// Whether `inn` is a participant: the emulator has issued it at least one token (there is
    /// no other record of participants). A scan, as tokens are few.
    pub fn is_participant(&self, inn: &str) -> bool {
        self.auth
            .tokens
            .read()
            .map(|tokens| tokens.values().any(|known| known == inn))
            .unwrap_or(false)
    }

    pub async fn add_module(&self, username: String, reg: Registration) -> Result<(), StoreError> {
        let (u, r) = (username.clone(), reg.clone());
        self.store
            .blocking(move |s| s.add_registration(&u, &r))
            .await?;
        if let Ok(mut modules) = self.auth.modules.write() {
            modules.insert(username, reg.password);
        }
        Ok(())
    }

    pub fn module_password_ok(&self, username: &str, password: &str) -> bool {
        self.auth
            .modules
            .read()
            .ok()
            .and_then(|m| m.get(username).map(|p| p == password))
            .unwrap_or(false)
    }

    /// The INN of the `X-API-KEY` token; 401 when the header is missing, repeated or unknown.
    pub fn caller(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let mut values = headers.get_all(protocol::true_api::API_KEY_HEADER).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(ApiError::unauthorized(
                "exactly one X-API-KEY header is required",
            ));
        };
        let token = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("X-API-KEY is not ASCII"))?;
        self.token_inn(token.trim()).ok_or_else(|| {
            ApiError::unauthorized("X-API-KEY is not a token issued by this operator")
        })
    }
}
