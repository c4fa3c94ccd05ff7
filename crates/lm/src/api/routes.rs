//! The route table: every path the module serves, its methods and who may call it. [`router`]
//! (super) and the OpenAPI document ([`super::openapi`]) are built from this table alone, so a
//! test that walks [`routes`] walks every route, including ones added later.

use std::sync::Arc;

use axum::routing::{MethodRouter, get, post};

use protocol::lm::{
    CisList, CisOutcomes, GreyListRequest, InitRequest, OutCheckRequest, OutCheckResponse,
    OutCheckV1Response, SoldPage, Status,
};

use super::openapi::{Op, Param, schema};
use super::v2::Done;
use super::{ApiState, Backend, admin, metrics, openapi, sold, v1, v2};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (`status`): the till polls it before it has credentials.
    Open,
    /// Basic, or `Token <uuid>` of a configured TS PIoT (`cis/outCheck`).
    BasicOrToken,
    /// Basic only.
    Basic,
}

/// One row of the table.
pub struct Route<M> {
    /// Path as axum matches it.
    pub path: &'static str,
    /// Methods the handler answers (one per [`Op`]); any other method gets 405.
    pub methods: Vec<&'static str>,
    /// Who may call it.
    pub access: Access,
    /// The handler(s).
    pub handler: MethodRouter<Arc<ApiState<M>>>,
    /// What the OpenAPI document says of each method.
    pub ops: Vec<Op>,
}

impl<M> std::fmt::Debug for Route<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("methods", &self.methods)
            .field("access", &self.access)
            .finish()
    }
}

fn route<M>(
    path: &'static str,
    access: Access,
    handler: MethodRouter<Arc<ApiState<M>>>,
    ops: Vec<Op>,
) -> Route<M> {
    Route {
        path,
        methods: ops.iter().map(|op| op.method).collect(),
        access,
        handler,
        ops,
    }
}

const HTML: &str = "text/html; charset=utf-8";
const KI: &str = "The KI (percent-encoded); a full KM is cut to its KI";
const PG: &str = "Product group id (16: `mrp` is null when no price is listed)";

fn skip() -> Param {
    Param::integer("skip", "Entries to skip (default 0)", None)
}

fn limit() -> Param {
    Param::integer(
        "limit",
        "Entries at most (default 100)",
        Some(sold::MAX_LIMIT),
    )
}

/// Every route of protocol.md §3 (v1 and v2), the admin page's and the API description.
pub fn routes<M: Backend>() -> Vec<Route<M>> {
    use Access::{Basic, BasicOrToken, Open};
    let v1_check = |what: &'static str, post_what: &'static str| {
        vec![
            Op::get(what)
                .query(Param::text("cis", true, KI))
                .query(Param::integer("pg", PG, Some(u64::from(u16::MAX))))
                .json(200, schema::<OutCheckV1Response>),
            Op::post(post_what)
                .body(schema::<CisList>)
                .json(200, schema::<OutCheckV1Response>),
        ]
    };
    vec![
        route(
            "/api/v1/status",
            Open,
            get(v1::status::<M>),
            vec![Op::get("v1 status").json(200, schema::<Status>)],
        ),
        route(
            "/api/v2/status",
            Open,
            get(v2::status::<M>),
            vec![Op::get("v2 status").json(200, schema::<Status>)],
        ),
        // Open like status unless `metrics_require_auth`: then the handler asks for Basic (and
        // the document says so: `Op::access`).
        route(
            "/metrics",
            Open,
            get(metrics::scrape::<M>),
            vec![
                Op::get("Prometheus metrics")
                    .text(200, metrics::CONTENT_TYPE)
                    .optional_basic(),
            ],
        ),
        // Basic like every route but `status` and `/metrics` (issues 5 and 8), though it holds
        // no secrets.
        route(
            "/api/openapi.json",
            Basic,
            get(openapi::serve::<M>),
            vec![Op::get("This OpenAPI document").json(200, schema::<OpenApiDocument>)],
        ),
        route(
            "/api/v2/cis/outCheck",
            BasicOrToken,
            post(v2::out_check::<M>),
            vec![
                Op::post("v2 check of KIs (one result per KI)")
                    .body(schema::<OutCheckRequest>)
                    .json(200, schema::<OutCheckResponse>),
            ],
        ),
        route(
            "/api/v1/cis/outCheck",
            BasicOrToken,
            get(v1::check_get::<M>).post(v1::check_post::<M>),
            v1_check("v1 outCheck of one KI", "v1 outCheck of KIs"),
        ),
        route(
            "/api/v2/init",
            Basic,
            post(v2::init::<M>),
            vec![init_op("v2 init")],
        ),
        route(
            "/api/v1/init",
            Basic,
            post(v2::init::<M>),
            vec![init_op("v1 init")],
        ),
        route(
            "/api/v2/greyList",
            Basic,
            post(v2::grey_list::<M>),
            vec![
                Op::post("Grey-GTIN mode on or off")
                    .body(schema::<GreyListRequest>)
                    .json(200, schema::<Done>)
                    .errors(&[409, 502, 507]),
            ],
        ),
        route(
            "/api/v2/cis/sell",
            Basic,
            post(sold::sell::<M>),
            vec![
                Op::post("Record sales")
                    .body(schema::<CisList>)
                    .json(201, schema::<CisOutcomes>)
                    .errors(&[507]),
            ],
        ),
        route(
            "/api/v2/cis/return",
            Basic,
            post(sold::give_back::<M>),
            vec![
                Op::post("Forget sales (returns)")
                    .body(schema::<CisList>)
                    .json(200, schema::<CisOutcomes>)
                    .errors(&[507]),
            ],
        ),
        route(
            "/api/v2/cis/sold",
            Basic,
            get(sold::page::<M>),
            vec![
                Op::get("A page of the sold DB")
                    .query(skip())
                    .query(limit())
                    .json(200, schema::<SoldPage>),
            ],
        ),
        route(
            "/api/v1/cis/check",
            Basic,
            get(v1::check_get::<M>).post(v1::check_post::<M>),
            v1_check("v1 check of one KI", "v1 check of KIs"),
        ),
        // The admin page and what it reads (admin.rs).
        route(
            "/",
            Basic,
            get(admin::index),
            vec![Op::get("Admin page").text(200, HTML)],
        ),
        route(
            "/admin/",
            Basic,
            get(admin::index),
            vec![Op::get("Admin page (same as /)").text(200, HTML)],
        ),
        route(
            "/admin/admin.js",
            Basic,
            get(admin::script),
            vec![Op::get("Admin page script").text(200, "text/javascript; charset=utf-8")],
        ),
        route(
            "/admin/admin.css",
            Basic,
            get(admin::style),
            vec![Op::get("Admin page style").text(200, "text/css; charset=utf-8")],
        ),
        route(
            "/admin/api/overview",
            Basic,
            get(admin::overview::<M>),
            vec![Op::get("Admin overview").json(200, schema::<admin::Overview>)],
        ),
        route(
            "/admin/api/sold",
            Basic,
            get(admin::backup::page::<M>),
            vec![
                Op::get("Sold DB with sale times")
                    .query(skip())
                    .query(limit())
                    .json(200, schema::<admin::backup::SoldEntries>),
            ],
        ),
        route(
            "/admin/api/sold/export",
            Basic,
            get(admin::backup::export::<M>),
            vec![
                Op::get("Export of the sold DB")
                    .query(Param::choice(
                        "format",
                        "json (default) or csv",
                        &["json", "csv"],
                    ))
                    .json(200, schema::<admin::backup::Export>)
                    .text(200, "text/csv; charset=utf-8"),
            ],
        ),
        route(
            "/admin/api/sold/import",
            Basic,
            post(admin::backup::import::<M>),
            vec![
                Op::post("Import of a sold DB export (JSON or CSV ki,sold_at_ms)")
                    .body(schema::<admin::backup::Export>)
                    .text_body("text/csv")
                    .json(200, schema::<admin::backup::ImportOutcome>)
                    .errors(&[507]),
            ],
        ),
        route(
            "/admin/api/credentials",
            Basic,
            post(admin::credentials::<M>),
            vec![
                Op::post("New login and password")
                    .body(schema::<admin::CredentialsChange>)
                    .json(200, schema::<Done>),
            ],
        ),
    ]
}

fn init_op(summary: &'static str) -> Op {
    Op::post(summary)
        .body(schema::<InitRequest>)
        .json(200, schema::<Done>)
        .errors(&[409, 502, 507])
}

/// Schema of `GET /api/openapi.json`: a JSON object (the OpenAPI 3.1 document).
/// Its other members are those of the OpenAPI 3.1 specification.
#[derive(utoipa::ToSchema)]
pub struct OpenApiDocument {
    /// `3.1.0`
    pub openapi: String,
}
