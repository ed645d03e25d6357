//! Personal data at rest: an authenticated cipher for the sensitive columns and a keyed hash for
//! searching by ID number (see docs/personal-data.md).
//!
//! A sealed value is the envelope `yc1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The
//! associated data names the column and the row (`cases.application/<case id>`), so a value moved
//! to another column or another case fails to open. AES-256-GCM (RustCrypto `aes-gcm`, audited,
//! maintained, Apache-2.0/MIT, constant-time with AES-NI) is the one cipher today; SM4-GCM for a
//! county that requires 国密 would be a second [`Cipher`] and a second envelope version.
//!
//! A value without the `yc1:` prefix is read as plain text: rows written before encryption was
//! switched on stay readable until `yichuang personal-data encrypt` has sealed them.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The envelope's version prefix.
pub const PREFIX: &str = "yc1:";
const NONCE_BYTES: usize = 12;
/// The entry of a key file naming the active key.
const ACTIVE: &str = "active";
/// The entry of a key file holding the search (HMAC) key.
const SEARCH: &str = "search";

/// Why a key file or `YICHUANG_KEYS` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Why a sealed value cannot be opened (or a value cannot be sealed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The value is encrypted but the service runs without keys.
    #[error("{what} is encrypted but no personal-data key is configured (key_file / YICHUANG_KEY_FILE / YICHUANG_KEYS)")]
    NoKeys { what: String },
    /// The value names a key the key ring does not hold.
    #[error("{what} is sealed under key '{key}', which is not in the key ring")]
    UnknownKey { what: String, key: String },
    /// The envelope is not `yc1:<key>:<base64>`.
    #[error("{what} is not a valid sealed value")]
    Malformed { what: String },
    /// Authentication failed: the value was altered, or belongs to another row or column.
    #[error("{what} fails authentication (altered, or moved from another row or column)")]
    Tampered { what: String },
    /// The random nonce could not be drawn.
    #[error("no random numbers for a nonce: {0}")]
    Random(String),
}

/// An authenticated cipher with 96-bit nonces (AES-256-GCM today; SM4-GCM would fit the same).
pub trait Cipher: Send + Sync {
    fn seal(&self, nonce: &[u8; NONCE_BYTES], plain: &[u8], aad: &[u8]) -> Option<Vec<u8>>;
    fn open(&self, nonce: &[u8; NONCE_BYTES], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>>;
}

struct AesGcm(Aes256Gcm);

impl Cipher for AesGcm {
    fn seal(&self, nonce: &[u8; NONCE_BYTES], plain: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        self.0
            .encrypt(Nonce::from_slice(nonce), Payload { msg: plain, aad })
            .ok()
    }

    fn open(&self, nonce: &[u8; NONCE_BYTES], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}

/// The keys: the data keys by id (the active one seals, every one opens) and the search key.
pub struct Keyring {
    active: String,
    keys: Vec<(String, Box<dyn Cipher>)>,
    search: [u8; 32],
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("keys", &self.key_ids())
            .finish_non_exhaustive()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn key_bytes(origin: &str, name: &str, b64: &str) -> Result<[u8; 32], KeyError> {
    let invalid = |message: String| KeyError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let raw = B64
        .decode(b64.trim())
        .map_err(|e| invalid(format!("key '{name}' is not base64: {e}")))?;
    <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| {
        invalid(format!(
            "key '{name}' has {} bytes; 32 are needed (`yichuang personal-data keygen`)",
            raw.len()
        ))
    })
}

impl Keyring {
    /// Reads entries `name: value`, one a line (a flat YAML mapping; `#` starts a comment) or
    /// separated by `,` / `;` (for `YICHUANG_KEYS`): `<key id>: <base64 of 32 bytes>` for each
    /// data key, `search: <base64 of 32 bytes>` for the search key, and optionally
    /// `active: <key id>` (default: the first data key).
    pub fn parse(text: &str, origin: &str) -> Result<Keyring, KeyError> {
        let invalid = |message: String| KeyError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut keys: Vec<(String, Box<dyn Cipher>)> = Vec::new();
        let mut active = None;
        let mut search = None;
        // Comments first (they may hold `,`), then entries separated by `,` or `;`.
        for (n, entry) in text
            .lines()
            .flat_map(|l| l.split('#').next().unwrap_or("").split([',', ';']))
            .map(str::trim)
            .enumerate()
        {
            if entry.is_empty() || entry == "---" {
                continue;
            }
            let (name, value) = entry
                .split_once(':')
                .ok_or_else(|| invalid(format!("entry {} is not `name: value`", n + 1)))?;
            let (name, value) = (
                name.trim().trim_matches(['"', '\'']),
                value.trim().trim_matches(['"', '\'']),
            );
            match name {
                ACTIVE => active = Some(value.to_string()),
                SEARCH => {
                    if search.replace(key_bytes(origin, name, value)?).is_some() {
                        return Err(invalid("the search key is given twice".into()));
                    }
                }
                id if valid_id(id) => {
                    if keys.iter().any(|(k, _)| k == id) {
                        return Err(invalid(format!("key '{id}' is given twice")));
                    }
                    let bytes = key_bytes(origin, id, value)?;
                    let cipher = Aes256Gcm::new_from_slice(&bytes)
                        .map_err(|e| invalid(format!("key '{id}': {e}")))?;
                    keys.push((id.to_string(), Box::new(AesGcm(cipher))));
                }
                other => {
                    return Err(invalid(format!(
                        "'{other}' is not a key id (letters, digits, '-', '_', '.', up to 32)"
                    )))
                }
            }
        }
        let Some((first, _)) = keys.first() else {
            return Err(invalid("no data key".into()));
        };
        let active = active.unwrap_or_else(|| first.clone());
        if !keys.iter().any(|(k, _)| *k == active) {
            return Err(invalid(format!("the active key '{active}' is not given")));
        }
        let search = search.ok_or_else(|| {
            invalid(
                "no search key (`search: <base64 of 32 bytes>`, for the ID-number index)".into(),
            )
        })?;
        Ok(Keyring {
            active,
            keys,
            search,
        })
    }

    /// Reads a key file (see [`Keyring::parse`]); warns when others than its owner may read it.
    pub fn load(path: &Path) -> Result<Keyring, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(path) {
                if m.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", m.permissions().mode() & 0o777),
                        "个人信息密钥文件可被其他用户读取，请执行 chmod 600"
                    );
                }
            }
        }
        Keyring::parse(&text, &path.display().to_string())
    }

    /// The key ring of the service: `YICHUANG_KEYS` if set, else the key file (the setting
    /// `key_file`, or `YICHUANG_KEY_FILE` through `Config::load`), else none (personal data
    /// stored in plain text).
    pub fn from_settings(key_file: Option<&Path>) -> Result<Option<Keyring>, KeyError> {
        if let Ok(text) = std::env::var("YICHUANG_KEYS") {
            return Keyring::parse(&text, "YICHUANG_KEYS").map(Some);
        }
        key_file.map(Keyring::load).transpose()
    }

    /// The text of a new key file: one data key named `id` and a search key.
    pub fn generate(id: &str) -> Result<String, CryptoError> {
        let mut data = [0u8; 32];
        let mut search = [0u8; 32];
        getrandom::fill(&mut data).map_err(|e| CryptoError::Random(e.to_string()))?;
        getrandom::fill(&mut search).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(format!(
            "# yichuang personal-data keys (chmod 600; back this file up apart from the database)\n\
             active: {id}\n{id}: {}\nsearch: {}\n",
            B64.encode(data),
            B64.encode(search)
        ))
    }

    /// One new data key line, `id: <base64>`, for rotation.
    pub fn generate_key_line(id: &str) -> Result<String, CryptoError> {
        let mut data = [0u8; 32];
        getrandom::fill(&mut data).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(format!("{id}: {}", B64.encode(data)))
    }

    pub fn active(&self) -> &str {
        &self.active
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn aad(column: &str, row: &str) -> Vec<u8> {
        format!("yichuang/{column}/{row}").into_bytes()
    }

    /// Seals `plain` under the active key, bound to `column` of `row`.
    pub fn seal(&self, column: &str, row: &str, plain: &str) -> Result<String, CryptoError> {
        let (id, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| *k == self.active)
            .ok_or_else(|| CryptoError::UnknownKey {
                what: format!("{column} of {row}"),
                key: self.active.clone(),
            })?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let sealed = cipher
            .seal(&nonce, plain.as_bytes(), &Self::aad(column, row))
            .ok_or_else(|| CryptoError::Malformed {
                what: format!("{column} of {row}"),
            })?;
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{id}:{}", B64.encode(bytes)))
    }

    /// The HMAC-SHA256 of an ID number under the search key (hex), for the search index.
    pub fn id_hash(&self, id_number: &str) -> String {
        search_hash(&self.search, id_number)
    }
}

fn search_hash(key: &[u8; 32], id_number: &str) -> String {
    // `new_from_slice` accepts keys of any length for HMAC.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(b"yichuang/id-number/v1\0");
    mac.update(id_number.trim().to_ascii_uppercase().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `stored` is a sealed value (and not plain text from before encryption).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The key id a sealed value names (`None` for plain text).
pub fn key_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split(':').next()
}

/// Opens a stored value of `column` of `row`: plain text as it is, a sealed value with the key
/// it names. `keys: None` opens only plain text.
pub fn open(
    keys: Option<&Keyring>,
    column: &str,
    row: &str,
    stored: &str,
) -> Result<String, CryptoError> {
    let Some(rest) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let what = || format!("{column} of {row}");
    let keys = keys.ok_or_else(|| CryptoError::NoKeys { what: what() })?;
    let (id, b64) = rest
        .split_once(':')
        .ok_or_else(|| CryptoError::Malformed { what: what() })?;
    let cipher = keys
        .keys
        .iter()
        .find(|(k, _)| k == id)
        .map(|(_, c)| c)
        .ok_or_else(|| CryptoError::UnknownKey {
            what: what(),
            key: id.to_string(),
        })?;
    let bytes = B64
        .decode(b64)
        .map_err(|_| CryptoError::Malformed { what: what() })?;
    if bytes.len() < NONCE_BYTES + 16 {
        return Err(CryptoError::Malformed { what: what() });
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce
        .try_into()
        .map_err(|_| CryptoError::Malformed { what: what() })?;
    let plain = cipher
        .open(&nonce, sealed, &Keyring::aad(column, row))
        .ok_or_else(|| CryptoError::Tampered { what: what() })?;
    String::from_utf8(plain).map_err(|_| CryptoError::Malformed { what: what() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: &str) -> Keyring {
        let text = format!(
            "active: {active}\nk1: {}\nk2: {}\nsearch: {}\n",
            B64.encode([1u8; 32]),
            B64.encode([2u8; 32]),
            B64.encode([3u8; 32])
        );
        Keyring::parse(&text, "test").unwrap()
    }

    #[test]
    fn seals_and_opens_bound_to_row_and_column() {
        let k = ring("k1");
        let s = k.seal("cases.applicant_name", "c1", "张三").unwrap();
        assert!(s.starts_with("yc1:k1:"), "{s}");
        assert!(!s.contains("张三"));
        assert_eq!(
            open(Some(&k), "cases.applicant_name", "c1", &s).unwrap(),
            "张三"
        );
        assert!(matches!(
            open(Some(&k), "cases.applicant_name", "c2", &s),
            Err(CryptoError::Tampered { .. })
        ));
        assert!(matches!(
            open(Some(&k), "cases.application", "c1", &s),
            Err(CryptoError::Tampered { .. })
        ));
        assert!(matches!(
            open(None, "cases.applicant_name", "c1", &s),
            Err(CryptoError::NoKeys { .. })
        ));
        assert_eq!(open(None, "x", "y", "plain").unwrap(), "plain");
    }

    #[test]
    fn rotation_old_keys_open_new_writes_use_the_active_one() {
        let old = ring("k1");
        let sealed_old = old.seal("c", "r", "v").unwrap();
        let new = ring("k2");
        assert_eq!(key_of(&new.seal("c", "r", "v").unwrap()), Some("k2"));
        assert_eq!(open(Some(&new), "c", "r", &sealed_old).unwrap(), "v");
        // The same search key gives the same hash whichever data key is active.
        assert_eq!(
            old.id_hash("11010519491231002x"),
            new.id_hash("11010519491231002X")
        );
    }

    #[test]
    fn bad_key_files_are_refused_with_a_reason() {
        for (text, needle) in [
            ("", "no data key"),
            ("k1: AAAA\nsearch: AAAA", "32 are needed"),
            ("k1: !!!", "not base64"),
            (
                "active: k9\nk1: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                "k9",
            ),
            (
                "k1: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                "no search key",
            ),
            ("bad id: x", "not a key id"),
        ] {
            let e = Keyring::parse(text, "f").unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let k = Keyring::parse(
            "# a comment, with a comma\nk1: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, search: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            "env",
        )
        .unwrap();
        assert_eq!(k.active(), "k1");
        let generated = Keyring::generate("2026a").unwrap();
        let k = Keyring::parse(&generated, "gen").unwrap();
        assert_eq!(k.active(), "2026a");
        assert!(!format!("{k:?}").contains(&generated[60..70]));
    }
}
