//! HTTP replies, and Google's error envelope
//! `{"error": {"code": 409, "message": "...", "status": "ALREADY_EXISTS"}}`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};

pub(crate) struct Reply {
    pub status: u16,
    /// Boxed: handlers return `Result<Value, Reply>` everywhere, and an inline `HeaderMap`
    /// would make every such result large.
    pub headers: Box<HeaderMap>,
    pub body: Bytes,
}

/// What fake handlers return: a JSON body for 200, or an error reply.
pub(crate) type Outcome = Result<Value, Reply>;

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        Reply {
            status,
            headers: Box::new(headers),
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    pub fn from_outcome(outcome: Outcome) -> Reply {
        match outcome {
            Ok(v) => Reply::json(200, &v),
            Err(reply) => reply,
        }
    }

    /// The envelope with `code`, `message` and `status`, plus any `extra` members
    /// (`errors`, `details`).
    pub fn error(code: u16, status: &str, message: impl Into<String>) -> Reply {
        Reply::error_with(code, status, message, json!({}))
    }

    pub fn error_with(code: u16, status: &str, message: impl Into<String>, extra: Value) -> Reply {
        let mut error = json!({"code": code, "message": message.into(), "status": status});
        if let (Some(e), Some(x)) = (error.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        Reply::json(code, &json!({ "error": error }))
    }

    pub fn invalid(message: impl Into<String>) -> Reply {
        Reply::error(400, "INVALID_ARGUMENT", message)
    }

    pub fn failed_precondition(message: impl Into<String>) -> Reply {
        Reply::error(400, "FAILED_PRECONDITION", message)
    }

    pub fn not_found(message: impl Into<String>) -> Reply {
        Reply::error(404, "NOT_FOUND", message)
    }

    pub fn already_exists(message: impl Into<String>) -> Reply {
        Reply::error(409, "ALREADY_EXISTS", message)
    }

    pub fn permission_denied(message: impl Into<String>) -> Reply {
        Reply::error(403, "PERMISSION_DENIED", message)
    }

    /// A valid method these fakes do not model: loud, so a test notices.
    pub fn unimplemented(method_id: &str) -> Reply {
        Reply::error(
            501,
            "UNIMPLEMENTED",
            format!("gcp-fakes does not implement {method_id}"),
        )
    }

    pub fn into_response(self) -> http::Response<http_body_util::Full<Bytes>> {
        let mut response = http::Response::new(http_body_util::Full::new(self.body));
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        *response.headers_mut() = *self.headers;
        response
    }
}
