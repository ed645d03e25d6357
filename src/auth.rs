//! Users, bearer tokens (stored as SHA-256 hashes) and who may see and do what.
//!
//! A clerk acts within their own center; a village agent only on the cases they submitted; a
//! supervisor sees their township or the whole county; an admin sees everything.
//!
//! A bearer token is either one of the tokens file (found by its SHA-256) or, when configured, a
//! JWT signed by the county's identity system (`jwt`).

mod jwt;

pub use jwt::SignedTokens;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::org::Organisation;

/// What a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 窗口工作人员
    Clerk,
    /// 村级代办员
    Agent,
    /// 后台审批人员
    Approver,
    /// 电子监察/督查
    Supervisor,
    /// 县信息中心管理员
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clerk => "clerk",
            Self::Agent => "agent",
            Self::Approver => "approver",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }
}

/// One line of the tokens file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    id: String,
    name: String,
    role: Role,
    /// Township id, county id, village id (agents) or `<place>/<department>` (approvers).
    unit: String,
    #[serde(default)]
    window: Option<String>,
    token_sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserEntry>,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub unit: String,
    pub window: Option<String>,
}

/// The tokens file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("cannot read tokens file {path}: {message}")]
    Read { path: String, message: String },
    #[error("tokens file {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("setting {name}: {message}")]
    Setting { name: &'static str, message: String },
}

/// Why a bearer token was not accepted. The message tells the clerk what to do; `reason` is the
/// stable code in the error's details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("身份凭证无效或已停用，请重新登录")]
    UnknownToken,
    #[error("身份凭证格式有误（{0}），请重新登录")]
    Malformed(String),
    #[error("令牌的签名算法 {alg} 不被接受（只接受 {allowed}），请通过统一身份认证重新登录")]
    AlgorithmNotAllowed { alg: String, allowed: String },
    #[error("令牌所用的签名密钥（kid '{0}'）未配置，请通过统一身份认证重新登录或联系县信息中心")]
    UnknownKey(String),
    #[error("令牌签名无效，请通过统一身份认证重新登录")]
    BadSignature,
    #[error("令牌已过期，请重新登录")]
    Expired,
    #[error("令牌尚未生效，请核对本机时间或稍后再试")]
    NotYetValid,
    #[error("令牌不是由本县统一身份认证签发的（iss 不符），请重新登录")]
    WrongIssuer,
    #[error("令牌不是签发给本系统的（aud 不符），请重新登录")]
    WrongAudience,
    #[error("令牌中的用户信息有误：{0}。请联系县信息中心")]
    InvalidClaims(String),
    #[error("令牌中的单位 '{0}' 不在本县组织机构中，请联系县信息中心")]
    UnknownUnit(String),
}

impl AuthError {
    /// A stable code for the error's details.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownToken => "unknown_token",
            Self::Malformed(_) => "malformed",
            Self::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::InvalidClaims(_) => "invalid_claims",
            Self::UnknownUnit(_) => "unknown_unit",
        }
    }
}

/// All users, found by the hash of their token, and the verifier of signed tokens if configured.
#[derive(Debug, Default)]
pub struct Users {
    by_hash: HashMap<String, User>,
    signed: Option<SignedTokens>,
    /// Users whose token is the guessable development token `dev-<id>`.
    development: Vec<String>,
}

/// Whether `unit` is a unit of `org` where a user of `role` can sit.
fn unit_known(org: &Organisation, role: Role, unit: &str) -> bool {
    match role {
        Role::Clerk | Role::Supervisor | Role::Admin => {
            unit == org.county.id || org.township(unit).is_some()
        }
        Role::Agent => org.village(unit).is_some(),
        Role::Approver => unit.split_once('/').is_some_and(|(place, dept)| {
            (place == org.county.id && org.county.departments.iter().any(|d| d.id == dept))
                || org
                    .township(place)
                    .is_some_and(|t| t.departments.iter().any(|d| d.id == dept))
        }),
    }
}

/// The hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

/// A new random token (256 bits, URL-safe) for a user of the tokens file.
pub fn new_token() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "yc_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

impl Users {
    /// Load the tokens file and check every unit against the organisation.
    pub fn load(path: &Path, org: &Organisation) -> Result<Self, AuthConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AuthConfigError::Read {
            path: p.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, org).map_err(|message| AuthConfigError::Invalid { path: p, message })
    }

    fn parse(text: &str, org: &Organisation) -> Result<Self, String> {
        let file: UsersFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        let mut development = Vec::new();
        for u in file.users {
            if !unit_known(org, u.role, &u.unit) {
                return Err(format!("user {}: unknown unit '{}'", u.id, u.unit));
            }
            let hash = u.token_sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "user {}: token_sha256 is not a SHA-256 hex digest",
                    u.id
                ));
            }
            if hash == token_hash(&format!("dev-{}", u.id)) {
                development.push(u.id.clone());
            }
            let user = User {
                id: u.id,
                name: u.name,
                role: u.role,
                unit: u.unit,
                window: u.window,
            };
            if by_hash.insert(hash, user).is_some() {
                return Err("two users share one token".into());
            }
        }
        Ok(Self {
            by_hash,
            signed: None,
            development,
        })
    }

    /// The users that still have the shipped development token (`dev-<user id>`, published in
    /// the README): anyone can sign in as them.
    pub fn development_tokens(&self) -> &[String] {
        &self.development
    }

    /// Also accept the signed tokens this verifier accepts.
    pub fn with_signed_tokens(mut self, signed: Option<SignedTokens>) -> Self {
        self.signed = signed;
        self
    }

    /// The name of a user of the tokens file.
    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.by_hash
            .values()
            .find(|u| u.id == id)
            .map(|u| u.name.as_str())
    }

    /// The user of a token of the tokens file.
    pub fn authenticate(&self, token: &str) -> Option<&User> {
        self.by_hash.get(&token_hash(token))
    }

    /// The user of any bearer token: one of the tokens file, or a JWT when signed tokens are
    /// configured (checked at `now_secs`, Unix seconds, with its unit in `org`).
    pub fn resolve(
        &self,
        token: &str,
        now_secs: i64,
        org: &Organisation,
    ) -> Result<User, AuthError> {
        if let Some(u) = self.authenticate(token) {
            return Ok(u.clone());
        }
        match &self.signed {
            Some(signed) if SignedTokens::looks_like_jwt(token) => {
                signed.verify(token, now_secs, org)
            }
            _ => Err(AuthError::UnknownToken),
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// Which cases a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseScope {
    /// The whole county.
    All,
    /// Cases taken at these centers (township or county ids).
    Centers(Vec<String>),
    /// Cases this agent submitted.
    Agent(String),
    /// Cases decided or routed to this unit.
    Unit(String),
}

impl User {
    pub fn case_scope(&self, org: &Organisation) -> CaseScope {
        match self.role {
            Role::Admin => CaseScope::All,
            Role::Supervisor if self.unit == org.county.id => CaseScope::All,
            Role::Supervisor | Role::Clerk => CaseScope::Centers(vec![self.unit.clone()]),
            Role::Agent => CaseScope::Agent(self.id.clone()),
            Role::Approver => CaseScope::Unit(self.unit.clone()),
        }
    }

    /// Whether this user may read a case taken at `center` (submitted by `agent`, involving
    /// `units` in its decision or route).
    pub fn may_read(
        &self,
        org: &Organisation,
        center: &str,
        agent: Option<&str>,
        units: &[&str],
    ) -> bool {
        match self.case_scope(org) {
            CaseScope::All => true,
            CaseScope::Centers(c) => c.iter().any(|x| x == center),
            CaseScope::Agent(id) => agent == Some(id.as_str()),
            CaseScope::Unit(u) => units.contains(&u.as_str()),
        }
    }

    /// Whether this user takes applications (clerks and village agents).
    pub fn takes_intakes(&self) -> bool {
        matches!(self.role, Role::Clerk | Role::Agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Organisation {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/org.yaml"))
                .unwrap();
        serde_yaml::from_str(&text).unwrap()
    }

    #[test]
    fn development_tokens_authenticate_and_plain_hashes_do_not() {
        let users = Users::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tokens.yaml"),
            &org(),
        )
        .unwrap();
        let u = users.authenticate("dev-clerk-baishui").unwrap();
        assert_eq!((u.role, u.unit.as_str()), (Role::Clerk, "baishui"));
        assert!(users.authenticate("dev-clerk-nowhere").is_none());
        assert!(users
            .authenticate(&token_hash("dev-clerk-baishui"))
            .is_none());
    }

    #[test]
    fn unknown_units_are_rejected() {
        let text = format!(
            "users:\n  - {{ id: x, name: x, role: clerk, unit: atlantis, token_sha256: {} }}\n",
            token_hash("t")
        );
        let err = Users::parse(&text, &org()).unwrap_err();
        assert!(err.contains("atlantis"), "{err}");
    }

    #[test]
    fn scopes_follow_the_role() {
        let org = org();
        let clerk = User {
            id: "c".into(),
            name: "c".into(),
            role: Role::Clerk,
            unit: "baishui".into(),
            window: None,
        };
        assert!(clerk.may_read(&org, "baishui", None, &[]));
        assert!(!clerk.may_read(&org, "qingshi", None, &[]));
        let agent = User {
            role: Role::Agent,
            unit: "baishui-dongcun".into(),
            ..clerk.clone()
        };
        assert!(agent.may_read(&org, "baishui", Some("c"), &[]));
        assert!(!agent.may_read(&org, "baishui", Some("other"), &[]));
        let sup = User {
            role: Role::Supervisor,
            unit: "qingshan".into(),
            ..clerk.clone()
        };
        assert!(sup.may_read(&org, "qingshi", None, &[]));
        let approver = User {
            role: Role::Approver,
            unit: "qingshan/civil-affairs".into(),
            ..clerk
        };
        assert!(approver.may_read(&org, "baishui", None, &["qingshan/civil-affairs"]));
        assert!(!approver.may_read(&org, "baishui", None, &["qingshan/health"]));
    }
}
