//! The wire formats the fake speaks: reading SigV4-signed requests of the awsJson1.1 (KMS),
//! restJson1 (AWS Backup) and awsQuery (STS, RDS, IAM) protocols, and writing AWS-shaped
//! answers and errors.

use std::collections::BTreeMap;

use serde_json::Value;

/// Who called what, read from the request.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub access_key: Option<String>,
    pub region: String,
    pub service: String,
    pub operation: String,
    pub params: Params,
}

/// The request's parameters, by protocol.
#[derive(Debug, Clone)]
pub(crate) enum Params {
    /// awsJson1.1: the JSON body.
    Json(Value),
    /// awsQuery: the form fields.
    Form(BTreeMap<String, String>),
    /// restJson1: the JSON body, the path segments (percent-decoded, without empty segments,
    /// so a trailing slash changes nothing) and the query string.
    Rest {
        /// The JSON body (an empty object when there is none).
        body: Value,
        /// The decoded path segments, e.g. `["backup-vaults", "my-vault"]`.
        path: Vec<String>,
        /// The decoded query parameters.
        query: BTreeMap<String, String>,
    },
}

impl Params {
    /// A top-level string field (JSON body) or form field.
    pub fn str(&self, name: &str) -> Option<String> {
        match self {
            Params::Json(v) | Params::Rest { body: v, .. } => {
                v.get(name).and_then(Value::as_str).map(str::to_owned)
            }
            Params::Form(f) => f.get(name).cloned(),
        }
    }

    /// The JSON body (`null` for forms).
    pub fn json(&self) -> &Value {
        static EMPTY: Value = Value::Null;
        match self {
            Params::Json(v) | Params::Rest { body: v, .. } => v,
            Params::Form(_) => &EMPTY,
        }
    }

    /// The `i`-th decoded path segment of a restJson1 request.
    pub fn segment(&self, i: usize) -> Option<&str> {
        match self {
            Params::Rest { path, .. } => path.get(i).map(String::as_str),
            _ => None,
        }
    }

    /// A query parameter of a restJson1 request.
    pub fn query(&self, name: &str) -> Option<&str> {
        match self {
            Params::Rest { query, .. } => query.get(name).map(String::as_str),
            _ => None,
        }
    }
}

/// An answer to send.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub error_code: Option<String>,
}

/// An AWS error to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsFault {
    /// The HTTP status.
    pub status: u16,
    /// The AWS error code.
    pub code: String,
    /// The message.
    pub message: String,
    /// Further string fields of a restJson1 error body: AWS Backup's `AlreadyExistsException`
    /// carries `Arn` and `CreatorRequestId`. The other protocols leave them out.
    pub details: BTreeMap<String, String>,
}

impl AwsFault {
    /// A 400 error with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> AwsFault {
        AwsFault {
            status: 400,
            code: code.to_owned(),
            message: message.into(),
            details: BTreeMap::new(),
        }
    }

    /// The same error with another HTTP status.
    pub fn status(mut self, status: u16) -> AwsFault {
        self.status = status;
        self
    }

    /// The same error with a further field `name` in a restJson1 error body.
    pub fn detail(mut self, name: &str, value: impl Into<String>) -> AwsFault {
        self.details.insert(name.to_owned(), value.into());
        self
    }
}

/// Reads the SigV4 credential scope (`Credential=<akid>/<date>/<region>/<service>/aws4_request`)
/// and the operation from a request.
pub(crate) fn parse(request: &wiremock::Request) -> Result<Incoming, AwsFault> {
    let auth = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let scope = auth
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_default();
    let parts: Vec<&str> = scope.split('/').collect();
    let (access_key, region, service) = match parts.as_slice() {
        [akid, _date, region, service, "aws4_request"] => (
            Some((*akid).to_owned()),
            (*region).to_owned(),
            (*service).to_owned(),
        ),
        _ => {
            return Err(AwsFault::new(
                "MissingAuthenticationToken",
                "the request is not signed with SigV4",
            )
            .status(403))
        }
    };
    let body = String::from_utf8_lossy(&request.body).into_owned();
    if let Some(target) = request
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let json = if body.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&body)
                .map_err(|e| AwsFault::new("SerializationException", e.to_string()))?
        };
        return Ok(Incoming {
            access_key,
            region,
            service,
            operation,
            params: Params::Json(json),
        });
    }
    if service == "backup" {
        return rest(request, access_key, region, service, &body);
    }
    let form = parse_form(&body);
    let operation = form.get("Action").cloned().unwrap_or_default();
    Ok(Incoming {
        access_key,
        region,
        service,
        operation,
        params: Params::Form(form),
    })
}

/// A restJson1 request: the operation is the method and the path (AWS Backup's routes, see
/// [`super::backup::route`]); an unknown route keeps `METHOD /path` as its operation name, so
/// the fake's answer names it.
fn rest(
    request: &wiremock::Request,
    access_key: Option<String>,
    region: String,
    service: String,
    body: &str,
) -> Result<Incoming, AwsFault> {
    let path: Vec<String> = request
        .url
        .path()
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(percent_decode_path)
        .collect();
    let query = request.url.query().map(parse_form).unwrap_or_default();
    let method = request.method.as_str().to_ascii_uppercase();
    let operation = super::backup::route(&method, &path)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{method} {}", request.url.path()));
    let body = if body.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(body)
            .map_err(|e| AwsFault::new("SerializationException", e.to_string()))?
    };
    Ok(Incoming {
        access_key,
        region,
        service,
        operation,
        params: Params::Rest { body, path, query },
    })
}

/// Decodes `application/x-www-form-urlencoded`.
pub(crate) fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    decode(s, true)
}

/// Decodes a percent-encoded URI path segment (`+` stays a plus sign).
fn percent_decode_path(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON 1.1 answer.
pub(crate) fn json_reply(value: Value) -> Reply {
    Reply {
        status: 200,
        content_type: "application/x-amz-json-1.1",
        body: value.to_string(),
        error_code: None,
    }
}

/// A JSON 1.1 error.
pub(crate) fn json_error(fault: &AwsFault) -> Reply {
    Reply {
        status: fault.status,
        content_type: "application/x-amz-json-1.1",
        body: serde_json::json!({"__type": fault.code, "message": fault.message}).to_string(),
        error_code: Some(fault.code.clone()),
    }
}

/// A restJson1 answer: status 200, `application/json`.
pub(crate) fn rest_reply(value: Value) -> Reply {
    Reply {
        status: 200,
        content_type: "application/json",
        body: value.to_string(),
        error_code: None,
    }
}

/// A restJson1 error: the code in `x-amzn-errortype` (set by the responder from
/// `error_code`) and a body `{"Code": .., "Message": .., <details>}`, as AWS Backup sends.
pub(crate) fn rest_error(fault: &AwsFault) -> Reply {
    let mut body = serde_json::Map::new();
    for (name, value) in &fault.details {
        body.insert(name.clone(), Value::String(value.clone()));
    }
    body.insert("Code".into(), Value::String(fault.code.clone()));
    body.insert("Message".into(), Value::String(fault.message.clone()));
    Reply {
        status: fault.status,
        content_type: "application/json",
        body: Value::Object(body).to_string(),
        error_code: Some(fault.code.clone()),
    }
}

/// An awsQuery answer: `<OpResponse><OpResult>{inner}</OpResult><ResponseMetadata>...`.
pub(crate) fn query_reply(
    operation: &str,
    namespace: &str,
    inner: &str,
    request_id: &str,
) -> Reply {
    Reply {
        status: 200,
        content_type: "text/xml",
        body: format!(
            "<{operation}Response xmlns=\"{namespace}\"><{operation}Result>{inner}</{operation}Result>\
             <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
        ),
        error_code: None,
    }
}

/// An awsQuery error.
pub(crate) fn query_error(fault: &AwsFault, request_id: &str) -> Reply {
    let kind = if fault.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    Reply {
        status: fault.status,
        content_type: "text/xml",
        body: format!(
            "<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>",
            xml_escape(&fault.code),
            xml_escape(&fault.message)
        ),
        error_code: Some(fault.code.clone()),
    }
}

/// Escapes text for XML content.
pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An XML element with escaped text.
pub(crate) fn el(name: &str, value: impl std::fmt::Display) -> String {
    format!("<{name}>{}</{name}>", xml_escape(&value.to_string()))
}

/// `prefix.1`, `prefix.2`, ... of a form.
pub(crate) fn form_list(params: &Params, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|i| params.str(&format!("{prefix}.{i}")))
        .collect()
}

/// The tags of a form, `prefix.N.Key` and `prefix.N.Value` (`Tags.Tag` for RDS, `Tags.member`
/// for IAM).
pub(crate) fn form_tags(params: &Params, prefix: &str) -> Vec<(String, String)> {
    (1..)
        .map_while(|i| {
            let key = params.str(&format!("{prefix}.{i}.Key"))?;
            Some((
                key,
                params
                    .str(&format!("{prefix}.{i}.Value"))
                    .unwrap_or_default(),
            ))
        })
        .collect()
}

/// The civil date (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's
/// algorithm), for the timestamps the fake writes.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
