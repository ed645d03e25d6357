//! The one way an endpoint reads a JSON body: parsed with the service's JSON limits and errors
//! (`invalid_body` with line and column), refused when it holds a NUL character
//! (`invalid_characters`), and checked by its own rules (`invalid_request` with every failing
//! field). A handler that takes [`Body<T>`] has a body that passed all three.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
use super::{reject_nul_in, validated};
use crate::auth::User;
use crate::error_code::ErrorCode;
use crate::store::RequestKey;

/// A request body's own rules, beyond its JSON shape. Most bodies have none.
pub trait Checked {
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A JSON body that parsed, holds no NUL and passed [`Checked::check`].
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T> FromRequest for Body<T>
where
    T: DeserializeOwned + Serialize + Checked + 'static,
{
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<T>::from_request(req, payload);
        Box::pin(async move {
            let body = json.await?.into_inner();
            reject_nul_in(&body)?;
            body.check()?;
            Ok(Body(body))
        })
    }
}

/// Bodies checked by their `validator` rules.
macro_rules! validated_bodies {
    ($($t:ty),* $(,)?) => {
        $(impl Checked for $t {
            fn check(&self) -> Result<(), ApiError> {
                validated(self)
            }
        })*
    };
}

validated_bodies!(
    crate::http::intake::IntakeRequest,
    crate::http::intake::SupplementRequest,
);

/// The longest Idempotency-Key taken.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The request's `Idempotency-Key` header, checked (visible ASCII, 1 to 128 characters), with
/// the request's path: a change is keyed by who sends it, to which path, with which body.
#[derive(Debug)]
pub struct RetryKey {
    key: Option<String>,
    path: String,
}

impl FromRequest for RetryKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(idempotency_key(req).map(|key| RetryKey {
            key,
            path: req.path().to_string(),
        }))
    }
}

impl RetryKey {
    /// The key as sent, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The key of a change that `user` asks for with `body` on this request's path: a retry
    /// must send the same body to the same path; the same key for anything else is refused.
    pub fn of_change(&self, user: &User, body: &impl Serialize) -> Option<RequestKey> {
        let key = self.key.as_ref()?;
        let body = serde_json::to_string(body).unwrap_or_default();
        Some(RequestKey {
            user_id: user.id.clone(),
            key: key.clone(),
            request_hash: crate::digest::sha256_hex(
                format!("POST {}\n{body}", self.path).as_bytes(),
            ),
        })
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let s = v.to_str().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key 只能包含可见ASCII字符",
        )
    })?;
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            format!("Idempotency-Key 长度应为1到{MAX_IDEMPOTENCY_KEY}个字符"),
        ));
    }
    Ok(Some(s.to_string()))
}
