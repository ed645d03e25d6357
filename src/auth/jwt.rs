//! Signed tokens (JWT) from the county's identity system (统一身份认证).
//!
//! A token is accepted when its signature verifies with a configured public key (one PEM key, or a
//! JWKS key set picked by `kid`), the header's `alg` belongs to that key's family (so `none` and
//! HMAC tokens are refused whatever the key: no algorithm confusion), `iss` and `aud` are the
//! configured ones, and `exp` / `nbf` hold on the service's clock within the configured leeway.
//!
//! Claims (all required but `window` and `nbf`): `sub` (user id), `name`, `role` (`clerk`,
//! `agent`, `approver`, `supervisor`, `admin`), `unit` (as in the tokens file: township, county or
//! village id, `<place>/<department>` for approvers; checked against the organisation),
//! `window`, `iss`, `aud`, `exp`, `nbf`.

use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{unit_known, AuthConfigError, AuthError, Role, User};
use crate::config::Config;
use crate::domain::org::Organisation;

/// Longest accepted `sub`, `name`, `unit` and `window` claims.
const MAX_CLAIM_CHARS: usize = 128;

/// One verification key with the algorithms it may verify.
struct VerifyKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The configured verifier of signed tokens.
pub struct SignedTokens {
    keys: Vec<VerifyKey>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
}

impl std::fmt::Debug for SignedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedTokens")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    name: String,
    role: Role,
    unit: String,
    #[serde(default)]
    window: Option<String>,
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
}

fn config_error(path: &Path, message: impl Into<String>) -> AuthConfigError {
    AuthConfigError::Invalid {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AuthConfigError> {
    std::fs::read(path).map_err(|e| AuthConfigError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// A public key in PEM: RSA, EC or Ed25519 (a symmetric secret is never a PEM key).
fn pem_key(path: &Path) -> Result<VerifyKey, AuthConfigError> {
    let pem = read(path)?;
    let key = DecodingKey::from_rsa_pem(&pem)
        .or_else(|_| DecodingKey::from_ec_pem(&pem))
        .or_else(|_| DecodingKey::from_ed_pem(&pem))
        .map_err(|_| {
            config_error(
                path,
                "not a PEM public key (RSA, EC P-256/P-384 or Ed25519)",
            )
        })?;
    Ok(VerifyKey {
        kid: None,
        algorithms: key.family().algorithms().to_vec(),
        key,
    })
}

/// The signing keys of a JWKS file; symmetric (`oct`) keys are refused.
fn jwks_keys(path: &Path) -> Result<Vec<VerifyKey>, AuthConfigError> {
    let set: JwkSet = serde_json::from_slice(&read(path)?)
        .map_err(|e| config_error(path, format!("not a JWKS key set: {e}")))?;
    let mut keys = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err(config_error(
                path,
                format!("key {i} is a symmetric (oct) key; only public keys are accepted"),
            ));
        }
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| config_error(path, format!("key {i}: {e}")))?;
        let family = key.family().algorithms().to_vec();
        let algorithms = match jwk.common.key_algorithm {
            None => family,
            Some(a) => {
                let alg = Algorithm::try_from(a)
                    .ok()
                    .filter(|alg| family.contains(alg))
                    .ok_or_else(|| {
                        config_error(path, format!("key {i}: alg {a} does not fit the key"))
                    })?;
                vec![alg]
            }
        };
        keys.push(VerifyKey {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        });
    }
    if keys.is_empty() {
        return Err(config_error(path, "the key set has no signing key"));
    }
    Ok(keys)
}

impl SignedTokens {
    /// The verifier configured by `jwt_*`, or `None` when no key is configured.
    pub fn from_config(c: &Config) -> Result<Option<Self>, AuthConfigError> {
        let keys = match (&c.jwt_public_key_file, &c.jwt_jwks_file) {
            (None, None) => return Ok(None),
            (Some(pem), None) => vec![pem_key(pem)?],
            (None, Some(jwks)) => jwks_keys(jwks)?,
            (Some(pem), Some(_)) => {
                return Err(config_error(
                    pem,
                    "set jwt_public_key_file or jwt_jwks_file, not both",
                ))
            }
        };
        let issuer = c
            .jwt_issuer
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthConfigError::Setting {
                name: "jwt_issuer",
                message: "required when a JWT key is configured".into(),
            })?;
        if c.jwt_audience.is_empty() {
            return Err(AuthConfigError::Setting {
                name: "jwt_audience",
                message: "must not be empty".into(),
            });
        }
        Ok(Some(Self {
            keys,
            issuer,
            audience: c.jwt_audience.clone(),
            leeway_secs: c.jwt_leeway_secs,
        }))
    }

    /// Whether a bearer token looks like a JWT (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    fn key_for(&self, kid: Option<&str>) -> Result<&VerifyKey, AuthError> {
        let found = match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)).or(
                match self.keys.as_slice() {
                    [only] if only.kid.is_none() => Some(only),
                    _ => None,
                },
            ),
            None => match self.keys.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        };
        found.ok_or_else(|| {
            AuthError::UnknownKey(kid.unwrap_or_default().chars().take(64).collect())
        })
    }

    /// Verify a JWT at `now_secs` (Unix seconds on the service's clock) and map its claims to a
    /// user whose unit exists in `org`.
    pub fn verify(
        &self,
        token: &str,
        now_secs: i64,
        org: &Organisation,
    ) -> Result<User, AuthError> {
        let header = decode_header(token)?;
        let alg_name = header.alg;
        let key = self.key_for(header.kid.as_deref())?;
        let alg = alg_name
            .parse::<Algorithm>()
            .ok()
            .filter(|a| key.algorithms.contains(a))
            .ok_or_else(|| AuthError::AlgorithmNotAllowed {
                alg: alg_name.chars().take(16).collect(),
                allowed: key
                    .algorithms
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join("、"),
            })?;
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        // Expiry and nbf are checked below on the service's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(from_library)?
            .claims;
        let now = now_secs as f64;
        let leeway = self.leeway_secs as f64;
        if claims.exp + leeway < now {
            return Err(AuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(AuthError::NotYetValid);
        }
        let too_long = |s: &str| s.is_empty() || s.chars().count() > MAX_CLAIM_CHARS;
        if too_long(&claims.sub)
            || too_long(&claims.name)
            || too_long(&claims.unit)
            || claims.window.as_deref().is_some_and(too_long)
        {
            return Err(AuthError::InvalidClaims(format!(
                "sub、name、unit、window 应为1到{MAX_CLAIM_CHARS}个字符"
            )));
        }
        if !unit_known(org, claims.role, &claims.unit) {
            return Err(AuthError::UnknownUnit(claims.unit));
        }
        Ok(User {
            id: claims.sub,
            name: claims.name,
            role: claims.role,
            unit: claims.unit,
            window: claims.window,
        })
    }
}

/// The parts of the JOSE header we need, read without trusting anything yet (so that `alg: none`
/// and unknown algorithms get a clear answer instead of a parse error).
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

fn decode_header(token: &str) -> Result<RawHeader, AuthError> {
    let first = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("令牌头不是 base64url 编码".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("令牌头不是含 alg 的 JSON 对象".into()))
}

fn from_library(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::BadSignature,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::MissingRequiredClaim(c) => AuthError::InvalidClaims(format!("缺少 {c}")),
        K::InvalidClaimFormat(c) => AuthError::InvalidClaims(format!("{c} 格式有误")),
        K::Json(e) => AuthError::InvalidClaims(e.to_string()),
        K::Base64(_) | K::Utf8(_) | K::InvalidToken => {
            AuthError::Malformed("令牌不是有效的 JWT".into())
        }
        // The header's algorithm was checked against the key before; anything else is a
        // signature the configured key does not verify.
        _ => AuthError::BadSignature,
    }
}
