//! The race of protocol.md §2.1: the full KM online and, in parallel, the KI to the local
//! module, both bounded by one deadline (1.5 s) from the start of the check.

use std::time::Duration;

use marking::MarkingCode;
use protocol::true_api::{CodesCheckRequest, CodesCheckResponse};
use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use crate::checker::{CheckRequest, Checker};
use crate::module::{ModuleAnswer, ModuleError};
use crate::online::OnlineReply;
use crate::outcome::CheckOutcome;

/// How the online side ended.
#[derive(Debug)]
pub(crate) enum OnlineSide {
    Answered {
        host: String,
        response: Box<CodesCheckResponse>,
        raw: Value,
    },
    Emergency {
        host: Option<String>,
    },
    Failed {
        host: Option<String>,
        reason: String,
    },
    Timeout {
        host: String,
    },
}

/// How the module side ended.
#[derive(Debug)]
pub(crate) enum ModuleSide {
    Answered(Box<ModuleAnswer>),
    Failed(ModuleError),
    Timeout,
    NotConfigured,
}

impl Checker {
    pub(crate) async fn race(&self, code: MarkingCode, request: CheckRequest) -> CheckOutcome {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(self.inner.config.deadline_ms);
        let now = self.now();
        let end = self.inner.settings.emergency_end_ms;
        let (emergency, state) =
            self.update_state(move |s| (s.emergency_active(now, end), s.clone()));
        if emergency && end.is_some() {
            // The operator announced the end: checks stay off until 3 days after it.
            let online = OnlineSide::Emergency { host: None };
            return self.conclude(&code, &request, online, ModuleSide::NotConfigured, started);
        }
        self.spawn_upkeep_if_due(&state, now);
        self.watch_module();

        let ki = code.ki();
        let module_pg = request.pg.or(code.pg_hint().map(|g| g.id));
        let online = self.online_side(code.km(), deadline);
        let module = self.module_side(&ki, module_pg, deadline);
        tokio::pin!(online, module);
        let (mut online_end, mut module_end) = (None, None);
        loop {
            tokio::select! {
                side = &mut online, if online_end.is_none() => online_end = Some(side),
                side = &mut module, if module_end.is_none() => module_end = Some(side),
            }
            match (&online_end, &module_end) {
                (Some(OnlineSide::Emergency { .. }), _) | (Some(_), Some(_)) => break,
                _ => {}
            }
        }
        let mut online_end = online_end.unwrap_or(OnlineSide::Timeout {
            host: String::new(),
        });
        if emergency && !matches!(online_end, OnlineSide::Answered { .. }) {
            // Checks stay off until the service answers normally again.
            online_end = OnlineSide::Emergency { host: None };
        }
        let module_end = module_end.unwrap_or(ModuleSide::Timeout);
        self.conclude(&code, &request, online_end, module_end, started)
    }

    async fn module_side(&self, ki: &str, pg: Option<u16>, deadline: Instant) -> ModuleSide {
        let Some(module) = &self.inner.module else {
            return ModuleSide::NotConfigured;
        };
        let readiness = self.inner.readiness.get();
        if let Some(error_code) = readiness.refusal() {
            // The module said it cannot check (§3.3: only `ready` allows offline checks); asking
            // would only cost a round trip for the same 4045/4050.
            let description = match &readiness.status {
                Some(status) if readiness.refused_with.is_none() => {
                    format!("the module reports status {status}; outCheck not asked")
                }
                _ => "the module refused the last outCheck; outCheck not asked".to_owned(),
            };
            return ModuleSide::Failed(ModuleError::NotReady {
                error_code,
                description,
            });
        }
        tracing::info!(%ki, ?pg, "module outCheck request");
        match timeout_at(deadline, module.out_check(ki, pg)).await {
            Ok(Ok(answer)) => ModuleSide::Answered(Box::new(answer)),
            Ok(Err(err)) => {
                tracing::warn!(%ki, %err, "module gave no answer");
                if let ModuleError::NotReady { error_code, .. } = &err {
                    self.inner.readiness.refused(*error_code);
                }
                ModuleSide::Failed(err)
            }
            Err(_) => {
                tracing::warn!(%ki, "module did not answer within the deadline");
                ModuleSide::Timeout
            }
        }
    }

    /// `codes/check` with the CDN rules of protocol.md §1.5, until an answer or the deadline.
    async fn online_side(&self, km: &str, deadline: Instant) -> OnlineSide {
        let config = &self.inner.config;
        let request = CodesCheckRequest {
            codes: vec![km.to_owned()],
            fiscal_drive_number: config.fiscal_drive_number.clone(),
            time_zone: Some(i32::from(config.time_zone)),
        };
        let now = self.now();
        let Some(pick) = self.update_state(move |s| s.pick(now)) else {
            return OnlineSide::Failed {
                host: None,
                reason: "no CDN host known".into(),
            };
        };
        if pick.cleared_all {
            tracing::warn!("every CDN host was blocked: marks cleared, list refresh started");
            let me = self.clone();
            tokio::spawn(async move { me.maintain().await });
        }
        let mut host = pick.url;
        let mut repeated = false;
        let mut repeated_5000 = false;
        loop {
            let reply = match timeout_at(deadline, self.inner.api.codes_check(&host, &request))
                .await
            {
                Ok(reply) => reply,
                Err(_) => {
                    let now = self.now();
                    let url = host.clone();
                    let blocked = self.update_state(move |s| s.record_miss(&url, now));
                    tracing::warn!(%host, blocked, "codes/check: no answer within the deadline");
                    return OnlineSide::Timeout { host };
                }
            };
            let failed = |host: String, reason: String| OnlineSide::Failed {
                host: Some(host),
                reason,
            };
            match reply {
                OnlineReply::Answer(response, raw) => {
                    let url = host.clone();
                    self.update_state(move |s| {
                        s.record_answer(&url);
                        s.leave_emergency();
                    });
                    return OnlineSide::Answered {
                        host,
                        response,
                        raw,
                    };
                }
                OnlineReply::Emergency => {
                    let now = self.now();
                    self.update_state(move |s| s.enter_emergency(now));
                    tracing::warn!(%host, "codes/check answered 203: emergency mode, checks off");
                    return OnlineSide::Emergency { host: Some(host) };
                }
                OnlineReply::TokenRejected => {
                    tracing::error!(%host, "codes/check: token rejected (HTTP 401)");
                    let reason = "token rejected (HTTP 401): a valid X-API-KEY is needed";
                    return failed(host, reason.into());
                }
                OnlineReply::ExternalUnavailable(description) => {
                    self.record_answer(&host);
                    tracing::warn!(%host, %description, "codes/check: 5xx with code 5000");
                    if !repeated_5000 {
                        repeated_5000 = true;
                        continue;
                    }
                    let reason = format!(
                        "the operator could not answer about this code (code 5000, twice): {description}"
                    );
                    return failed(host, reason);
                }
                OnlineReply::Overloaded(status) => {
                    tracing::warn!(%host, status, "codes/check: overloaded or server error");
                    if !repeated {
                        self.record_answer(&host);
                        repeated = true;
                        continue;
                    }
                    match self.block_and_next(&host) {
                        Some(next) => (host, repeated) = (next, false),
                        None => {
                            return failed(host, format!("HTTP {status} twice, no other CDN host"));
                        }
                    }
                }
                OnlineReply::Unreachable(err) => {
                    tracing::warn!(%host, %err, "codes/check: host unreachable");
                    match self.block_and_next(&host) {
                        Some(next) => (host, repeated) = (next, false),
                        None => return failed(host, format!("no CDN host reachable: {err}")),
                    }
                }
                OnlineReply::Rejected(status, description) => {
                    tracing::error!(%host, status, %description, "codes/check rejected the request");
                    return failed(
                        host,
                        format!("request rejected (HTTP {status}): {description}"),
                    );
                }
            }
        }
    }

    fn record_answer(&self, host: &str) {
        let url = host.to_owned();
        self.update_state(move |s| s.record_answer(&url));
    }

    fn block_and_next(&self, host: &str) -> Option<String> {
        let now = self.now();
        let url = host.to_owned();
        self.update_state(move |s| {
            s.block(&url, now);
            s.next_after(&url)
        })
    }
}
