//! The one way an endpoint reads a JSON body: parsed with the service's JSON limits and errors
//! (`invalid_body` with line and column), refused when it holds a NUL character
//! (`invalid_characters`), and checked by its own rules (`invalid_request` with every failing
//! field). A handler that takes [`Body<T>`] has a body that passed all three.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
use super::{reject_nul_in, validated};

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
    crate::app::intake::IntakeRequest,
    crate::app::intake::SupplementRequest,
);
