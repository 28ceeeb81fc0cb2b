//! The one mapping from Stalwart/JMAP errors to StackDock error kinds.

use serde_json::Value;
use stackdock_core::{Error, ErrorKind, ErrorStatus};
use stackdock_http::{status_error, ErrorMapper, HeaderMap};

/// Map a JMAP error object: a method-level error (`["error", {type, description}, id]`)
/// or a per-object `notCreated` / `notUpdated` / `notDestroyed` entry
/// (`{type, description, properties}`).
pub fn jmap_error(error: &Value) -> Error {
    let kind = error
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let description = error
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let properties: Vec<&str> = error
        .get("properties")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let message = if description.is_empty() {
        kind.to_owned()
    } else {
        description
    };
    let err = match kind {
        "invalidProperties"
        | "invalidArguments"
        | "invalidPatch"
        | "tooLarge"
        | "invalidResultReference" => {
            let field = if properties.is_empty() {
                "request".to_owned()
            } else {
                properties.join(",")
            };
            Error::invalid_input(field, message)
        }
        "primaryKeyViolation" | "alreadyExists" => Error::already_exists(message),
        "notFound" => Error::not_found(message),
        "forbidden" | "accountReadOnly" | "forbiddenFrom" => {
            Error::new(ErrorKind::PermissionDenied).with_message(message)
        }
        "accountNotFound"
        | "unknownCapability"
        | "unknownMethod"
        | "accountNotSupportedByMethod" => Error::config(format!(
            "{message} (is this Stalwart 0.16+ with the management API?)"
        )),
        "stateMismatch" | "willDestroy" => {
            Error::conflict(message).with_status(ErrorStatus::Temporary)
        }
        "serverUnavailable" => Error::new(ErrorKind::Unavailable).with_message(message),
        "rateLimit" => Error::rate_limited(None),
        "serverFail" | "serverPartialFail" => Error::provider(None, Some(kind.to_owned()), message)
            .with_status(ErrorStatus::Temporary),
        "overQuota" => Error::new(ErrorKind::Refused).with_message(message),
        other => Error::provider(None, Some(other.to_owned()), message),
    };
    err.with_context("jmap_error", kind.to_owned())
}

/// HTTP-level errors: RFC 7807 problem details (`{type, status, detail}`), else by status.
#[derive(Debug, Clone, Copy, Default)]
pub struct StalwartErrors;

impl ErrorMapper for StalwartErrors {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        let problem: Option<Value> = serde_json::from_slice(body).ok();
        let jmap_type = problem
            .as_ref()
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix("urn:ietf:params:jmap:error:"));
        match (status, jmap_type) {
            (401 | 403 | 429, _) | (500.., _) | (_, None) => status_error(status, headers, body),
            (_, Some(t)) => {
                let detail = problem
                    .as_ref()
                    .and_then(|p| p.get("detail"))
                    .cloned()
                    .unwrap_or(Value::Null);
                jmap_error(&serde_json::json!({"type": t, "description": detail}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds() {
        let e = jmap_error(
            &json!({"type": "invalidProperties", "properties": ["name"], "description": "bad"}),
        );
        assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "name"));
        assert_eq!(
            jmap_error(&json!({"type": "primaryKeyViolation"})).kind(),
            &ErrorKind::AlreadyExists
        );
        assert_eq!(
            jmap_error(&json!({"type": "notFound"})).kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(
            jmap_error(&json!({"type": "forbidden"})).kind(),
            &ErrorKind::PermissionDenied
        );
        assert_eq!(
            jmap_error(&json!({"type": "unknownMethod"})).kind(),
            &ErrorKind::ConfigInvalid
        );
        assert!(jmap_error(&json!({"type": "serverFail"})).is_temporary());
        assert!(
            matches!(jmap_error(&json!({"type": "weird"})).kind(), ErrorKind::Provider { code: Some(c), .. } if c == "weird")
        );
        let m = StalwartErrors.map_error(
            400,
            &HeaderMap::new(),
            br#"{"type":"urn:ietf:params:jmap:error:unknownCapability","status":400,"detail":"x"}"#,
        );
        assert_eq!(m.kind(), &ErrorKind::ConfigInvalid);
        assert_eq!(
            StalwartErrors
                .map_error(401, &HeaderMap::new(), b"{}")
                .kind(),
            &ErrorKind::Unauthenticated
        );
    }
}
