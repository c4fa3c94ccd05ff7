//! The OpenAPI 3.1 document of the API (`GET /api/openapi.json`), generated from the route
//! table ([`super::routes`]): every route carries its [`Op`]s, and the schemas come from the
//! wire types' `ToSchema` derives (crate `protocol`), so the document cannot drift from what
//! the router serves. Open like `status`: it describes the API and holds no secrets.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use protocol::lm::ErrorBody;
use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, Ref, RefOr, Required, ResponseBuilder, SecurityRequirement,
};

use super::routes::{Access, routes};
use super::{ApiState, Backend, software_version};

/// Named schemas collected while the document is built.
pub type Schemas = Vec<(String, RefOr<Schema>)>;
/// Adds a type's schema (and those it refers to) to `Schemas`; returns its name.
pub type SchemaFn = fn(&mut Schemas) -> String;

/// The [`SchemaFn`] of a wire type.
pub fn schema<T: ToSchema>(out: &mut Schemas) -> String {
    let name = T::name().into_owned();
    out.push((name.clone(), T::schema()));
    T::schemas(out);
    name
}

/// What a body (request or answer) holds under one media type.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    /// JSON of a named schema.
    Json(SchemaFn),
    /// Text (HTML, CSS, JS, CSV, the metrics exposition) under the given media type.
    Text(&'static str),
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
    /// `integer` (with its range) or `string` (with its allowed values, if any).
    pub kind: ParamKind,
}

/// The type of a query parameter.
#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    Integer { min: u64, max: Option<u64> },
    Text { one_of: &'static [&'static str] },
}

/// One method of one route, as the document describes it.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: &'static str,
    pub summary: &'static str,
    pub query: Vec<Param>,
    /// Accepted request bodies (any of the media types).
    pub body: Vec<Payload>,
    /// The success status and what it carries (any of the media types).
    pub answer: (u16, Vec<Payload>),
    /// Error statuses beyond those every route of its kind may answer (see [`Op::errors`]).
    pub extra_errors: Vec<u16>,
    /// The route is open unless the module is configured to require Basic for it (`/metrics`,
    /// [`ApiState::metrics_require_auth`]); the document says which is in force.
    pub optional_basic: bool,
}

impl Op {
    fn new(method: &'static str, summary: &'static str) -> Op {
        Op {
            method,
            summary,
            query: Vec::new(),
            body: Vec::new(),
            answer: (200, Vec::new()),
            extra_errors: Vec::new(),
            optional_basic: false,
        }
    }

    pub fn get(summary: &'static str) -> Op {
        Op::new("GET", summary)
    }

    pub fn post(summary: &'static str) -> Op {
        Op::new("POST", summary)
    }

    /// A JSON request body.
    pub fn body(mut self, schema: SchemaFn) -> Op {
        self.body.push(Payload::Json(schema));
        self
    }

    /// A text request body of `media`.
    pub fn text_body(mut self, media: &'static str) -> Op {
        self.body.push(Payload::Text(media));
        self
    }

    /// A JSON answer with `status`.
    pub fn json(mut self, status: u16, schema: SchemaFn) -> Op {
        self.answer.0 = status;
        self.answer.1.push(Payload::Json(schema));
        self
    }

    /// A text answer of `media` with `status`.
    pub fn text(mut self, status: u16, media: &'static str) -> Op {
        self.answer.0 = status;
        self.answer.1.push(Payload::Text(media));
        self
    }

    pub fn query(mut self, param: Param) -> Op {
        self.query.push(param);
        self
    }

    pub fn errors(mut self, statuses: &[u16]) -> Op {
        self.extra_errors.extend_from_slice(statuses);
        self
    }

    pub fn optional_basic(mut self) -> Op {
        self.optional_basic = true;
        self
    }

    /// Who may call this operation of a route with `access` under `config`.
    pub fn access(&self, access: Access, config: DocumentConfig) -> Access {
        match (self.optional_basic, config.metrics_require_auth) {
            (true, true) => Access::Basic,
            (true, false) => Access::Open,
            (false, _) => access,
        }
    }

    /// Every error status this operation may answer explicitly (all with [`ErrorBody`]; the
    /// `default` response covers the rest, e.g. 404/405 of the router itself). `access` as
    /// [`Op::access`] gives it.
    pub fn errors_for(&self, access: Access) -> Vec<u16> {
        let mut statuses = vec![408, 500];
        if access != Access::Open {
            statuses.extend([401, 429]);
        }
        if !self.body.is_empty() || !self.query.is_empty() {
            statuses.push(400);
        }
        if !self.body.is_empty() {
            statuses.push(413);
        }
        statuses.extend(&self.extra_errors);
        statuses.sort_unstable();
        statuses.dedup();
        statuses
    }
}

impl Param {
    pub fn integer(name: &'static str, description: &'static str, max: Option<u64>) -> Param {
        Param {
            name,
            required: false,
            description,
            kind: ParamKind::Integer { min: 0, max },
        }
    }

    pub fn text(name: &'static str, required: bool, description: &'static str) -> Param {
        Param {
            name,
            required,
            description,
            kind: ParamKind::Text { one_of: &[] },
        }
    }

    pub fn choice(
        name: &'static str,
        description: &'static str,
        one_of: &'static [&'static str],
    ) -> Param {
        Param {
            name,
            required: false,
            description,
            kind: ParamKind::Text { one_of },
        }
    }
}

/// What of the module's configuration the document depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentConfig {
    /// `/metrics` asks for Basic ([`ApiState::metrics_require_auth`]).
    pub metrics_require_auth: bool,
}

impl DocumentConfig {
    pub fn of<M>(state: &ApiState<M>) -> DocumentConfig {
        DocumentConfig {
            metrics_require_auth: state.metrics_require_auth,
        }
    }
}

/// The body of `GET /api/openapi.json`, built once per configuration (it depends on the code
/// and on [`DocumentConfig`] only).
pub async fn serve<M: Backend>(State(state): State<Arc<ApiState<M>>>) -> Response {
    // One static for every `M` (statics of generic functions are shared); the document does
    // not depend on `M`.
    static DOCUMENTS: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let config = DocumentConfig::of(&state);
    let text = DOCUMENTS[usize::from(config.metrics_require_auth)].get_or_init(|| {
        document::<M>(config)
            .to_json()
            .unwrap_or_else(|err| format!("{{\"code\":500,\"description\":\"{err}\"}}"))
    });
    let mut response = text.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The document of every route of [`routes`], as the module configured by `config` serves it.
pub fn document<M: Backend>(config: DocumentConfig) -> OpenApi {
    let mut schemas = Schemas::new();
    let error = schema::<ErrorBody>(&mut schemas);
    let mut paths = PathsBuilder::new();
    for route in routes::<M>() {
        let mut item: Option<PathItem> = None;
        for op in &route.ops {
            let operation = operation(op, op.access(route.access, config), &error, &mut schemas);
            let method = http_method(op.method);
            item = Some(match item {
                None => PathItem::new(method, operation),
                Some(mut item) => {
                    item.merge_operations(PathItem::new(method, operation));
                    item
                }
            });
        }
        if let Some(item) = item {
            paths = paths.path(route.path, item);
        }
    }
    let unique: BTreeMap<String, RefOr<Schema>> = schemas.into_iter().collect();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(unique)
        .security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The module's login and password (`znak lm passwd`; admin/admin only \
                         on a loopback listener)",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <uuid>` of a configured TS PIoT controller (cis/outCheck only)",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("znak local module API")
                .version(software_version())
                .description(Some(
                    "Chestny Znak local module, API v1 and v2 (wire-compatible with the \
                     official module), the admin page's own routes and /metrics. Every error \
                     is JSON {\"code\", \"description\"}.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

fn http_method(method: &str) -> HttpMethod {
    match method {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn media(payload: Payload, schemas: &mut Schemas) -> (&'static str, RefOr<Schema>) {
    match payload {
        Payload::Json(schema) => ("application/json", reference(&schema(schemas))),
        Payload::Text(media) => (
            media,
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .build(),
            )),
        ),
    }
}

fn operation(op: &Op, access: Access, error: &str, schemas: &mut Schemas) -> Operation {
    let mut builder = OperationBuilder::new()
        .summary(Some(op.summary))
        .operation_id(Some(format!("{} {}", op.method, op.summary)));
    for param in &op.query {
        let schema = match param.kind {
            ParamKind::Integer { min, max } => ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Integer))
                .minimum(Some(min as f64))
                .maximum(max.map(|max| max as f64)),
            ParamKind::Text { one_of } => {
                let builder = ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
                if one_of.is_empty() {
                    builder
                } else {
                    builder.enum_values(Some(one_of.iter().copied()))
                }
            }
        };
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(param.name)
                .parameter_in(ParameterIn::Query)
                .required(if param.required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(param.description))
                .schema(Some(Schema::Object(schema.build()))),
        );
    }
    if !op.body.is_empty() {
        let mut body = RequestBodyBuilder::new().required(Some(Required::True));
        for payload in &op.body {
            let (media, schema) = media(*payload, schemas);
            body = body.content(media, ContentBuilder::new().schema(Some(schema)).build());
        }
        builder = builder.request_body(Some(body.build()));
    }
    let mut answer = ResponseBuilder::new().description(status_text(op.answer.0));
    for payload in &op.answer.1 {
        let (media, schema) = media(*payload, schemas);
        answer = answer.content(media, ContentBuilder::new().schema(Some(schema)).build());
    }
    builder = builder.response(op.answer.0.to_string(), answer.build());
    let error_content = || ContentBuilder::new().schema(Some(reference(error))).build();
    for status in op.errors_for(access) {
        let mut response = ResponseBuilder::new()
            .description(status_text(status))
            .content("application/json", error_content());
        if status == 429 {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(Schema::Object(
                        ObjectBuilder::new()
                            .schema_type(SchemaType::Type(Type::Integer))
                            .build(),
                    )))
                    .description(Some("Seconds to wait before the next attempt"))
                    .build(),
            );
        }
        builder = builder.response(status.to_string(), response.build());
    }
    builder = builder.response(
        "default",
        ResponseBuilder::new()
            .description("Any other error (unknown path 404, wrong method 405, …)")
            .content("application/json", error_content())
            .build(),
    );
    let basic = || SecurityRequirement::new("basic", Vec::<String>::new());
    match access {
        Access::Open => {}
        Access::Basic => builder = builder.security(basic()),
        Access::BasicOrToken => {
            builder = builder
                .security(basic())
                .security(SecurityRequirement::new("token", Vec::<String>::new()));
        }
    }
    builder.build()
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => {
            "Bad request (malformed JSON, wrong types, bad parameters); for checks also \
                errorCode 4045 (module not ready) or 4050 (sync_error); for init also a \
                participant token the operator refused"
        }
        401 => "Missing or wrong credentials (WWW-Authenticate: Basic)",
        408 => "The request was not received and answered in time",
        409 => "Not possible in the module's state (e.g. not initialised)",
        413 => "The body is over 1 MiB",
        429 => "Too many failed authorization attempts from this address",
        500 => "The module failed (store unusable); see the module's log",
        502 => "The operator could not be reached or failed",
        507 => {
            "The disk holding the module's data is full: nothing was recorded; retry once \
                space is freed"
        }
        _ => "See the description",
    }
}
