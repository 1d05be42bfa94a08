//! The wire formats the fake speaks: reading SigV4-signed requests of the awsJson1.1 (KMS)
//! and awsQuery (STS, RDS, IAM) protocols, and writing AWS-shaped answers and errors.

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
}

impl Params {
    /// A top-level string field (JSON) or form field.
    pub fn str(&self, name: &str) -> Option<String> {
        match self {
            Params::Json(v) => v.get(name).and_then(Value::as_str).map(str::to_owned),
            Params::Form(f) => f.get(name).cloned(),
        }
    }

    /// The JSON body (empty object for forms).
    pub fn json(&self) -> &Value {
        static EMPTY: Value = Value::Null;
        match self {
            Params::Json(v) => v,
            Params::Form(_) => &EMPTY,
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
}

impl AwsFault {
    /// A 400 error with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> AwsFault {
        AwsFault {
            status: 400,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The same error with another HTTP status.
    pub fn status(mut self, status: u16) -> AwsFault {
        self.status = status;
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
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
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
