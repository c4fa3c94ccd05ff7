//! Who may call the API: Basic credentials (argon2id hash in `credentials.toml` of the data dir,
//! or the documented `admin`/`admin` default, allowed only on a loopback listener) and, on
//! `cis/outCheck` only, `Authorization: Token <uuid>` for configured TS PIoT tokens.
//!
//! An argon2 check costs milliseconds, far over the check budget, so a credential that passed
//! once is remembered as a keyed BLAKE2 digest and later requests compare digests in constant
//! time.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::ApiError;

/// File in the data directory holding the login and the password hash.
pub const CREDENTIALS_FILE: &str = "credentials.toml";

/// The documented factory login and password (protocol.md §3.1).
pub const DEFAULT_LOGIN: &str = "admin";
const DEFAULT_PASSWORD: &str = "admin";

/// Why credentials could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid credentials file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("the login must be 1–64 characters without ':' and the password non-empty")]
    Invalid,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// What `credentials.toml` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredentials {
    /// Basic login.
    pub login: String,
    /// PHC string of the argon2id hash of the password.
    pub password_hash: String,
}

impl StoredCredentials {
    /// Hashes `password` with argon2id and a random salt.
    pub fn new(login: &str, password: &str) -> Result<StoredCredentials, CredentialsError> {
        if login.is_empty() || login.chars().count() > 64 || login.contains(':') {
            return Err(CredentialsError::Invalid);
        }
        if password.is_empty() {
            return Err(CredentialsError::Invalid);
        }
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|err| CredentialsError::Hash(err.to_string()))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|err| CredentialsError::Hash(err.to_string()))?;
        Ok(StoredCredentials {
            login: login.to_owned(),
            password_hash: hash.to_string(),
        })
    }

    /// Reads `credentials.toml` of `data_dir`; `None` when it does not exist.
    pub fn load(data_dir: &Path) -> Result<Option<StoredCredentials>, CredentialsError> {
        let path = data_dir.join(CREDENTIALS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialsError::Read { path, source }),
        };
        let stored: StoredCredentials =
            toml::from_str(&text).map_err(|err| CredentialsError::Malformed {
                path: path.clone(),
                reason: err.to_string(),
            })?;
        PasswordHash::new(&stored.password_hash).map_err(|err| CredentialsError::Malformed {
            path,
            reason: format!("password_hash: {err}"),
        })?;
        Ok(Some(stored))
    }

    /// Writes `credentials.toml` into `data_dir` (atomically: temporary file, then rename).
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, CredentialsError> {
        let path = data_dir.join(CREDENTIALS_FILE);
        let write_err = |source| CredentialsError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(write_err)?;
        let text = toml::to_string(self).map_err(|err| CredentialsError::Hash(err.to_string()))?;
        let temporary = data_dir.join(format!("{CREDENTIALS_FILE}.tmp"));
        std::fs::write(&temporary, text).map_err(write_err)?;
        restrict_permissions(&temporary).map_err(write_err)?;
        std::fs::rename(&temporary, &path).map_err(write_err)?;
        Ok(path)
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Which schemes a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Basic only.
    Basic,
    /// Basic or `Token <uuid>` (`cis/outCheck`).
    BasicOrToken,
}

/// The API's gatekeeper.
#[derive(Debug)]
pub struct Auth {
    /// `None`: the factory default. Replaced by [`Auth::change`].
    stored: RwLock<Option<StoredCredentials>>,
    /// Where [`Auth::change`] saves `credentials.toml` (the data directory), if anywhere.
    persist_in: Option<PathBuf>,
    tokens: Vec<Uuid>,
    /// Key of the digests below, random per process.
    key: [u8; 32],
    /// Digest of the last `Basic` value that passed argon2.
    verified: RwLock<Option<[u8; 32]>>,
    /// Requests refused for missing or wrong credentials (metrics).
    failures: AtomicU64,
    /// The factory login is in force: no stored credentials, or stored ones that are
    /// `admin`/`admin` again (which must not open a non-loopback listener either).
    factory: AtomicBool,
}

/// Whether `login` and `password` are the factory pair `admin`/`admin`.
pub fn is_factory_login(login: &str, password: &str) -> bool {
    login == DEFAULT_LOGIN && password == DEFAULT_PASSWORD
}

/// Whether `stored` is the factory login written down: `admin` with the password `admin`.
fn is_factory(stored: &StoredCredentials) -> bool {
    stored.login == DEFAULT_LOGIN
        && PasswordHash::new(&stored.password_hash).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(DEFAULT_PASSWORD.as_bytes(), &hash)
                .is_ok()
        })
}

impl Auth {
    /// `stored` = `None` means the documented default `admin`/`admin`.
    pub fn new(stored: Option<StoredCredentials>, tokens: Vec<Uuid>) -> Auth {
        let factory = stored.as_ref().is_none_or(is_factory);
        Auth {
            factory: AtomicBool::new(factory),
            stored: RwLock::new(stored),
            persist_in: None,
            tokens,
            key: rand::random(),
            verified: RwLock::new(None),
            failures: AtomicU64::new(0),
        }
    }

    /// Requests refused so far for missing or wrong credentials.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// [`Auth::change`] also writes `credentials.toml` into `data_dir`.
    pub fn persisted_in(mut self, data_dir: impl Into<PathBuf>) -> Auth {
        self.persist_in = Some(data_dir.into());
        self
    }

    /// True while the factory default login is in force, stored or not.
    pub fn is_default(&self) -> bool {
        self.factory.load(Ordering::Relaxed)
    }

    fn current(&self) -> Option<StoredCredentials> {
        self.stored
            .read()
            .map(|guard| guard.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Replaces the login and password (argon2id hash; saved first when persisted, so a
    /// failed write changes nothing). Requests with the old credentials are refused from now.
    pub async fn change(&self, login: &str, password: &str) -> Result<(), CredentialsError> {
        let factory = is_factory_login(login, password);
        let (login, password) = (login.to_owned(), password.to_owned());
        let stored = tokio::task::spawn_blocking(move || StoredCredentials::new(&login, &password))
            .await
            .map_err(|err| CredentialsError::Hash(err.to_string()))??;
        if let Some(dir) = &self.persist_in {
            stored.save(dir)?;
        }
        let mut current = self
            .stored
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Some(stored);
        self.factory.store(factory, Ordering::Relaxed);
        if let Ok(mut verified) = self.verified.write() {
            *verified = None;
        }
        Ok(())
    }

    /// Checks the `Authorization` header of a request (a refusal is counted).
    pub async fn check(&self, headers: &HeaderMap, scheme: Scheme) -> Result<(), ApiError> {
        let checked = self.check_header(headers, scheme).await;
        if checked.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        checked
    }

    async fn check_header(&self, headers: &HeaderMap, scheme: Scheme) -> Result<(), ApiError> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "authorization required: send Authorization: Basic base64(login:password)",
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?
            .trim();
        let (kind, credential) = value.split_once(' ').unwrap_or((value, ""));
        let credential = credential.trim();
        if kind.eq_ignore_ascii_case("basic") {
            return self.check_basic(credential).await;
        }
        if kind.eq_ignore_ascii_case("token") {
            if scheme != Scheme::BasicOrToken {
                return Err(ApiError::unauthorized(
                    "Token authorization is accepted only on cis/outCheck; use Basic",
                ));
            }
            return self.check_token(credential);
        }
        Err(ApiError::unauthorized(format!(
            "unsupported authorization scheme {kind:?}: use Basic (or Token on cis/outCheck)"
        )))
    }

    fn check_token(&self, credential: &str) -> Result<(), ApiError> {
        // The 32 hex digits decide, not where the hyphens are: the guide's own example
        // (protocol.md §3.3) has one missing, and tills copy it.
        let token = Uuid::try_parse(&credential.replace('-', "")).map_err(|_| {
            ApiError::unauthorized("the Token value is not a UUID (Authorization: Token <uuid>)")
        })?;
        let presented = token.as_bytes();
        let mut accepted = subtle::Choice::from(0);
        for known in &self.tokens {
            accepted |= known.as_bytes().ct_eq(presented);
        }
        if bool::from(accepted) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("unknown token"))
        }
    }

    async fn check_basic(&self, credential: &str) -> Result<(), ApiError> {
        let wrong = || ApiError::unauthorized("wrong login or password");
        let decoded = STANDARD
            .decode(credential)
            .map_err(|_| ApiError::unauthorized("the Basic credential is not valid base64"))?;
        let Some(stored) = self.current() else {
            let expected = format!("{DEFAULT_LOGIN}:{DEFAULT_PASSWORD}");
            return match bool::from(decoded.ct_eq(expected.as_bytes())) {
                true => Ok(()),
                false => Err(wrong()),
            };
        };
        let digest = self.digest(&decoded);
        let remembered = self.verified.read().map(|guard| *guard).unwrap_or(None);
        if remembered.is_some_and(|known| bool::from(known.ct_eq(&digest))) {
            return Ok(());
        }
        let text = String::from_utf8(decoded).map_err(|_| wrong())?;
        let (login, password) = text.split_once(':').ok_or_else(wrong)?;
        let login_ok = login.as_bytes().ct_eq(stored.login.as_bytes());
        let phc = stored.password_hash.clone();
        let password = password.to_owned();
        let password_ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
        })
        .await
        .map_err(|_| ApiError::internal("the password check failed"))?;
        if !(bool::from(login_ok) && password_ok) {
            return Err(wrong());
        }
        // Remember the credential only if it was checked against the hash still in force (a
        // concurrent change must not leave the old password accepted).
        // The read guard is held while writing, and `change` clears under the write guard.
        let current = self
            .stored
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let still_current = current.as_ref().is_some_and(|now| now == &stored);
        if still_current && let Ok(mut guard) = self.verified.write() {
            *guard = Some(digest);
        }
        drop(current);
        Ok(())
    }

    fn digest(&self, credential: &[u8]) -> [u8; 32] {
        let mut hasher = Blake2s256::new();
        hasher.update(self.key);
        hasher.update(credential);
        hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(login: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{login}:{password}")));
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        headers
    }

    #[tokio::test]
    async fn stored_credentials_verify_and_are_remembered() {
        let stored = StoredCredentials::new("kassa", "s3cret:with colon").unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));
        let auth = Auth::new(Some(stored), vec![]);
        let good = basic("kassa", "s3cret:with colon");
        auth.check(&good, Scheme::Basic).await.unwrap();
        assert!(auth.verified.read().unwrap().is_some());
        auth.check(&good, Scheme::Basic).await.unwrap();
        let err = auth.check(&basic("kassa", "nope"), Scheme::Basic).await;
        assert_eq!(err.unwrap_err().status.as_u16(), 401);
        let err = auth.check(&basic("admin", "admin"), Scheme::Basic).await;
        assert_eq!(err.unwrap_err().status.as_u16(), 401);
        assert_eq!(auth.failures(), 2);
    }

    #[test]
    fn credentials_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(StoredCredentials::load(dir.path()).unwrap(), None);
        let stored = StoredCredentials::new("admin", "long password").unwrap();
        stored.save(dir.path()).unwrap();
        assert_eq!(StoredCredentials::load(dir.path()).unwrap(), Some(stored));
        std::fs::write(dir.path().join(CREDENTIALS_FILE), "login = 1").unwrap();
        assert!(StoredCredentials::load(dir.path()).is_err());
    }

    #[test]
    fn bad_logins_are_refused() {
        assert!(StoredCredentials::new("", "x").is_err());
        assert!(StoredCredentials::new("a:b", "x").is_err());
        assert!(StoredCredentials::new("a", "").is_err());
    }
}
