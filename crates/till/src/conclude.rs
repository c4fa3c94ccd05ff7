//! From the two sides of the race to one outcome: which answer counts, the verdict, tag 1265.

use marking::MarkingCode;
use protocol::true_api::CodeInfo;
use serde_json::json;
use tokio::time::Instant;

use crate::checker::{CheckRequest, Checker};
use crate::decision::{Sale, Verdict, Violation, decide_offline, decide_online, online_group};
use crate::module::ModuleError;
use crate::outcome::{CheckOutcome, Decision, SideReport, Source};
use crate::race::{ModuleSide, OnlineSide};
use crate::readiness::{NOT_READY, SYNC_LOST};
use crate::receipt::{ReceiptCheck, earlier_entries, receipt_rules};
use crate::tag::Tag1260;

impl Checker {
    pub(crate) fn conclude(
        &self,
        code: &MarkingCode,
        request: &CheckRequest,
        online: OnlineSide,
        module: ModuleSide,
        started: Instant,
    ) -> CheckOutcome {
        let settings = &self.inner.settings;
        let local_time = settings.local_time(self.now());
        let hint = code.pg_hint().map(|g| g.id);
        let mut pg = request.pg.or(hint);
        let online_report = online_report(&online);
        let module_report = self.module_report(&module);
        let mut outcome = CheckOutcome {
            decision: Decision::NoCheck,
            source: Source::None,
            sale_allowed: true,
            reasons: Vec::new(),
            notes: Vec::new(),
            tag1265: None,
            tag1260: None,
            elapsed_ms: 0,
            km: code.km().to_owned(),
            ki: code.ki(),
            pg,
            online: online_report,
            module: module_report,
        };
        let module_answer = match &module {
            ModuleSide::Answered(a) => Some(a),
            _ => None,
        };
        let item = match &online {
            OnlineSide::Answered { response, .. } => response.codes.as_ref().and_then(|c| {
                c.iter()
                    .find(|i| i.cis == code.km() || i.print_view.as_deref() == Some(&outcome.ki))
                    .or(c.first())
            }),
            _ => None,
        };
        if let OnlineSide::Emergency { .. } = online {
            outcome.source = Source::Emergency;
            outcome
                .notes
                .push("emergency mode: checks are off, tag 1260 is left out".into());
        } else if let (OnlineSide::Answered { response, .. }, Some(item)) = (&online, item) {
            pg = online_group(item).or(pg);
            let sale = Sale {
                code,
                pg,
                price: request.price,
                local_time,
            };
            let mut verdict = decide_online(item, &sale);
            if let Some(answer) = module_answer
                && answer.code.sold == Some(true)
            {
                // The module's sold DB forbids regardless of the online answer (§2.1 step 3).
                verdict.violations.push(repeat_sale_from_module());
            }
            outcome.source = Source::Online;
            self.apply(&mut outcome, verdict);
            match Tag1260::online(&response.req_id, response.req_timestamp) {
                Ok(tag) => outcome.set_tag(tag),
                Err(err) => outcome.notes.push(format!("tag 1260 left out: {err}")),
            }
        } else if let Some(answer) = module_answer {
            if let OnlineSide::Answered { .. } = online {
                outcome
                    .notes
                    .push("the online answer carried no item for this code".into());
            }
            let sale = Sale {
                code,
                pg,
                price: request.price,
                local_time,
            };
            let verdict = decide_offline(&answer.code, &sale);
            outcome.source = Source::Offline;
            self.apply(&mut outcome, verdict);
            let version = answer.version.as_deref().unwrap_or_default();
            match Tag1260::offline(&answer.req_id, answer.req_timestamp, &answer.inst, version) {
                Ok(tag) => outcome.set_tag(tag),
                Err(err) => outcome.notes.push(format!("tag 1260 left out: {err}")),
            }
        } else {
            let why = format!(
                "no check possible: online {}; local module {}",
                side_reason(&outcome.online),
                side_reason(&outcome.module)
            );
            let not_ready = module_not_ready(&module);
            match settings.mandatory_since(pg, local_time.date()) {
                Some(since) => {
                    outcome.decision = Decision::Forbid;
                    outcome.sale_allowed = false;
                    outcome.reasons.push(Violation {
                        case: 0,
                        code: "check_unavailable",
                        message: format!(
                            "Offline check is mandatory for this product group since {since} and no check was possible: sale forbidden"
                        ),
                        data: json!({"reason": why, "mandatorySince": since.to_string()}),
                    });
                }
                None => outcome.notes.push(format!(
                    "{why}; the sale may proceed without a check (offline check not mandatory for this group)"
                )),
            }
            outcome.reasons.extend(not_ready);
        }
        if request.quantity.is_some() || !request.receipt.is_empty() {
            self.apply_receipt_rules(&mut outcome, request, item);
        }
        outcome.pg = pg;
        outcome.elapsed_ms = started.elapsed().as_millis() as u64;
        outcome
    }

    fn apply(&self, outcome: &mut CheckOutcome, verdict: Verdict) {
        outcome.decision = if verdict.allows() {
            Decision::Allow
        } else {
            Decision::Forbid
        };
        outcome.sale_allowed = verdict.allows();
        outcome.reasons = verdict.violations;
        outcome.notes.extend(verdict.notes);
    }

    /// The receipt rules forbid whatever the answers said (they are the till's own check).
    fn apply_receipt_rules(
        &self,
        outcome: &mut CheckOutcome,
        request: &CheckRequest,
        item: Option<&CodeInfo>,
    ) {
        let earlier = earlier_entries(&request.receipt);
        let check = ReceiptCheck {
            ki: &outcome.ki,
            quantity: request.quantity,
            earlier: &earlier,
            inner_unit_count: item.and_then(|i| i.inner_unit_count),
            sold_unit_count: item.and_then(|i| i.sold_unit_count),
        };
        let (violations, notes) = receipt_rules(&check);
        outcome.notes.extend(notes);
        if !violations.is_empty() {
            outcome.decision = Decision::Forbid;
            outcome.sale_allowed = false;
            outcome.reasons.extend(violations);
        }
    }

    fn module_report(&self, module: &ModuleSide) -> SideReport {
        let host = self.inner.config.module.as_ref().map(|m| m.url.clone());
        match module {
            ModuleSide::Answered(a) => SideReport {
                status: "answered",
                host,
                error: None,
                answer: Some(a.raw.clone()),
            },
            ModuleSide::Failed(err @ ModuleError::NotReady { .. }) => SideReport {
                status: "not_ready",
                host,
                error: Some(err.to_string()),
                answer: None,
            },
            ModuleSide::Failed(err) => SideReport {
                status: "failed",
                host,
                error: Some(err.to_string()),
                answer: None,
            },
            ModuleSide::Timeout => SideReport {
                status: "timeout",
                host,
                error: Some("no answer within the deadline".into()),
                answer: None,
            },
            ModuleSide::NotConfigured => SideReport {
                status: "not_configured",
                ..SideReport::default()
            },
        }
    }
}

impl CheckOutcome {
    fn set_tag(&mut self, tag: Tag1260) {
        self.tag1265 = Some(tag.tag1265.clone());
        self.tag1260 = Some(tag);
    }
}

fn repeat_sale_from_module() -> Violation {
    Violation {
        case: 3,
        code: "repeat_sale",
        message: "This code was already sold in this shop (local sold list): repeat sale forbidden"
            .into(),
        data: json!({"source": "local module", "sold": true}),
    }
}

/// Why the offline side could not check, when the module said it is not ready: the till shows
/// the cashier that the module is still loading (4045) or lost its sync (4050).
fn module_not_ready(module: &ModuleSide) -> Option<Violation> {
    let ModuleSide::Failed(ModuleError::NotReady {
        error_code,
        description,
    }) = module
    else {
        return None;
    };
    let message = match *error_code {
        SYNC_LOST => {
            "Local module has not synchronised for 72 h (errorCode 4050): no offline check"
        }
        NOT_READY => {
            "Local module is not ready yet, still being configured or loading lists (errorCode 4045): no offline check"
        }
        _ => "Local module is not ready: no offline check",
    };
    Some(Violation {
        case: 0,
        code: "module_not_ready",
        message: message.into(),
        data: json!({"errorCode": error_code, "description": description}),
    })
}

fn online_report(online: &OnlineSide) -> SideReport {
    match online {
        OnlineSide::Answered { host, raw, .. } => SideReport {
            status: "answered",
            host: Some(host.clone()),
            error: None,
            answer: Some(raw.clone()),
        },
        OnlineSide::Emergency { host } => SideReport {
            status: "emergency",
            host: host.clone(),
            error: Some("emergency mode in force (HTTP 203)".into()),
            answer: None,
        },
        OnlineSide::Failed { host, reason } => SideReport {
            status: "failed",
            host: host.clone(),
            error: Some(reason.clone()),
            answer: None,
        },
        OnlineSide::Timeout { host } => SideReport {
            status: "timeout",
            host: Some(host.clone()).filter(|h| !h.is_empty()),
            error: Some("no answer within the deadline".into()),
            answer: None,
        },
    }
}

fn side_reason(report: &SideReport) -> String {
    match &report.error {
        Some(e) => e.clone(),
        None => report.status.replace('_', " "),
    }
}
