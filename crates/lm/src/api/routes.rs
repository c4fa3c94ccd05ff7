//! The route table: every path the module serves, its methods and who may call it. [`router`]
//! (super) is built from this table alone, so a test that walks [`routes`] walks every route,
//! including ones added later.

use std::sync::Arc;

use axum::routing::{MethodRouter, get, post};

use super::{ApiState, Backend, admin, metrics, sold, v1, v2};

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
    /// Methods the handler answers; any other method gets 405.
    pub methods: &'static [&'static str],
    /// Who may call it.
    pub access: Access,
    /// The handler(s).
    pub handler: MethodRouter<Arc<ApiState<M>>>,
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
    methods: &'static [&'static str],
    access: Access,
    handler: MethodRouter<Arc<ApiState<M>>>,
) -> Route<M> {
    Route {
        path,
        methods,
        access,
        handler,
    }
}

/// Every route of protocol.md §3 (v1 and v2).
pub fn routes<M: Backend>() -> Vec<Route<M>> {
    use Access::{Basic, BasicOrToken, Open};
    const GET: &[&str] = &["GET"];
    const POST: &[&str] = &["POST"];
    const GET_POST: &[&str] = &["GET", "POST"];
    vec![
        route("/api/v1/status", GET, Open, get(v1::status::<M>)),
        route("/api/v2/status", GET, Open, get(v2::status::<M>)),
        // Open like status unless `metrics_require_auth`: then the handler asks for Basic.
        route("/metrics", GET, Open, get(metrics::scrape::<M>)),
        route(
            "/api/v2/cis/outCheck",
            POST,
            BasicOrToken,
            post(v2::out_check::<M>),
        ),
        route(
            "/api/v1/cis/outCheck",
            GET_POST,
            BasicOrToken,
            get(v1::check_get::<M>).post(v1::check_post::<M>),
        ),
        route("/api/v2/init", POST, Basic, post(v2::init::<M>)),
        route("/api/v1/init", POST, Basic, post(v2::init::<M>)),
        route("/api/v2/greyList", POST, Basic, post(v2::grey_list::<M>)),
        route("/api/v2/cis/sell", POST, Basic, post(sold::sell::<M>)),
        route(
            "/api/v2/cis/return",
            POST,
            Basic,
            post(sold::give_back::<M>),
        ),
        route("/api/v2/cis/sold", GET, Basic, get(sold::page::<M>)),
        route(
            "/api/v1/cis/check",
            GET_POST,
            Basic,
            get(v1::check_get::<M>).post(v1::check_post::<M>),
        ),
        // The admin page and what it reads (admin.rs).
        route("/", GET, Basic, get(admin::index)),
        route("/admin/", GET, Basic, get(admin::index)),
        route("/admin/admin.js", GET, Basic, get(admin::script)),
        route("/admin/admin.css", GET, Basic, get(admin::style)),
        route("/admin/api/overview", GET, Basic, get(admin::overview::<M>)),
        route("/admin/api/sold", GET, Basic, get(admin::backup::page::<M>)),
        route(
            "/admin/api/sold/export",
            GET,
            Basic,
            get(admin::backup::export::<M>),
        ),
        route(
            "/admin/api/sold/import",
            POST,
            Basic,
            post(admin::backup::import::<M>),
        ),
        route(
            "/admin/api/credentials",
            POST,
            Basic,
            post(admin::credentials::<M>),
        ),
    ]
}
