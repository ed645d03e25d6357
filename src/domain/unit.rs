//! Units that hold a case's steps: a department of the county or of a township, or a service
//! center (the township's or the county's window, which takes cases and reviews them first).
//!
//! Stored and sent as `<place>/<department>` or `<place>/center` (e.g. `qingshan/civil-affairs`,
//! `baishui/center`), parsed once at the edge into [`UnitId`].

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;

/// The department id that names a place's service center.
const CENTER: &str = "center";

/// A unit that acts on a case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitId {
    /// A county bureau (`qingshan/health`) or a township office (`baishui/agri-office`).
    Department { place: String, department: String },
    /// The service center of a township or of the county (`baishui/center`).
    Center { place: String },
}

impl UnitId {
    pub fn department(place: impl Into<String>, department: impl Into<String>) -> Self {
        Self::Department {
            place: place.into(),
            department: department.into(),
        }
    }

    pub fn center(place: impl Into<String>) -> Self {
        Self::Center {
            place: place.into(),
        }
    }

    /// The county or township the unit belongs to.
    pub fn place(&self) -> &str {
        match self {
            Self::Department { place, .. } | Self::Center { place } => place,
        }
    }

    /// The department id, for a department.
    pub fn department_id(&self) -> Option<&str> {
        match self {
            Self::Department { department, .. } => Some(department),
            Self::Center { .. } => None,
        }
    }

    pub fn is_center(&self) -> bool {
        matches!(self, Self::Center { .. })
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Department { place, department } => write!(f, "{place}/{department}"),
            Self::Center { place } => write!(f, "{place}/{CENTER}"),
        }
    }
}

/// A text that is not `<place>/<department>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("“{0}”不是单位编号（应为 地区/部门，如 qingshan/health）")]
pub struct InvalidUnit(pub String);

impl FromStr for UnitId {
    type Err = InvalidUnit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = |p: &str| !p.is_empty() && !p.contains('/') && !p.chars().any(char::is_whitespace);
        match s.split_once('/') {
            Some((place, CENTER)) if ok(place) => Ok(Self::center(place)),
            Some((place, dept)) if ok(place) && ok(dept) => Ok(Self::department(place, dept)),
            _ => Err(InvalidUnit(s.chars().take(80).collect())),
        }
    }
}

impl serde::Serialize for UnitId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for UnitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for UnitId {
    fn schema_name() -> String {
        "UnitId".into()
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = String::json_schema(gen).into_object();
        s.metadata().description =
            Some("`<place>/<department>` or `<place>/center`, e.g. `qingshan/health`".into());
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_print_alike() {
        for (text, unit) in [
            ("qingshan/health", UnitId::department("qingshan", "health")),
            ("baishui/center", UnitId::center("baishui")),
        ] {
            assert_eq!(text.parse::<UnitId>().unwrap(), unit);
            assert_eq!(unit.to_string(), text);
            let json = serde_json::to_string(&unit).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<UnitId>(&json).unwrap(), unit);
        }
        for bad in ["", "qingshan", "/health", "qingshan/", "a/b/c", "a b/c"] {
            assert!(bad.parse::<UnitId>().is_err(), "{bad}");
        }
        assert_eq!(UnitId::center("baishui").place(), "baishui");
    }
}
