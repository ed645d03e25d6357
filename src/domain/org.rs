//! The organisation: the county, its townships and villages, departments, windows and seals.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assessment::UnitAssignment;
use super::matter::Level;
use super::unit::UnitId;

/// `rules/org.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub county: County,
    pub townships: Vec<Township>,
}

/// The county and its departments.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct County {
    pub id: String,
    /// e.g. 青山县
    pub name: String,
    /// e.g. 青山县政务服务中心
    pub center: String,
    /// 一枚印章: the seal name printed on every notice of the center.
    pub seal: String,
    pub departments: Vec<Department>,
    #[serde(default)]
    pub windows: Vec<Window>,
}

/// A township (乡镇/街道) with its offices, windows and villages.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Township {
    pub id: String,
    pub name: String,
    /// e.g. 白水镇便民服务中心
    pub center: String,
    pub seal: String,
    #[serde(default)]
    pub departments: Vec<Department>,
    #[serde(default)]
    pub windows: Vec<Window>,
    #[serde(default)]
    pub villages: Vec<Village>,
}

/// A department (county bureau or township office).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: String,
    pub name: String,
}

/// A service window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub id: String,
    pub name: String,
}

/// A village (村/社区) with its service room.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Village {
    pub id: String,
    pub name: String,
    /// e.g. 东村便民服务室
    #[serde(default)]
    pub service_room: Option<String>,
}

impl Organisation {
    pub fn township(&self, id: &str) -> Option<&Township> {
        self.townships.iter().find(|t| t.id == id)
    }

    /// The village and the township it belongs to.
    /// The name of a unit: a center, or a department of the county or a township.
    pub fn unit_name(&self, unit: &UnitId) -> Option<String> {
        match unit {
            UnitId::Center { place } if *place == self.county.id => {
                Some(self.county.center.clone())
            }
            UnitId::Center { place } => self.township(place).map(|t| t.center.clone()),
            UnitId::Department { place, department } => {
                let departments = if *place == self.county.id {
                    &self.county.departments
                } else {
                    &self.township(place)?.departments
                };
                departments
                    .iter()
                    .find(|d| d.id == *department)
                    .map(|d| d.name.clone())
            }
        }
    }

    /// The name of a window of the county's or a township's center.
    pub fn window_name(&self, id: &str) -> Option<&str> {
        self.county
            .windows
            .iter()
            .chain(self.townships.iter().flat_map(|t| t.windows.iter()))
            .find(|w| w.id == id)
            .map(|w| w.name.as_str())
    }

    pub fn village(&self, id: &str) -> Option<(&Township, &Village)> {
        self.townships
            .iter()
            .find_map(|t| t.villages.iter().find(|v| v.id == id).map(|v| (t, v)))
    }

    /// Resolve a department at a level for a case taken in `township` (`None` = county center).
    pub fn resolve(
        &self,
        level: Level,
        department: &str,
        township: Option<&str>,
    ) -> Option<UnitAssignment> {
        match level {
            Level::County => self
                .county
                .departments
                .iter()
                .find(|d| d.id == department)
                .map(|d| UnitAssignment {
                    unit_id: UnitId::department(&self.county.id, &d.id),
                    name: d.name.clone(),
                    level,
                }),
            Level::Township | Level::Village => {
                let t = self.township(township?)?;
                t.departments
                    .iter()
                    .find(|d| d.id == department)
                    .map(|d| UnitAssignment {
                        unit_id: UnitId::department(&t.id, &d.id),
                        name: d.name.clone(),
                        level: Level::Township,
                    })
            }
        }
    }

    /// The accepting center as a unit: the township center, or the county center.
    pub fn center_unit(&self, township: Option<&str>) -> UnitAssignment {
        match township.and_then(|id| self.township(id)) {
            Some(t) => UnitAssignment {
                unit_id: UnitId::center(&t.id),
                name: t.center.clone(),
                level: Level::Township,
            },
            None => UnitAssignment {
                unit_id: UnitId::center(&self.county.id),
                name: self.county.center.clone(),
                level: Level::County,
            },
        }
    }

    /// The seal name of the center that takes a case (一枚印章).
    pub fn seal(&self, township: Option<&str>) -> &str {
        match township.and_then(|id| self.township(id)) {
            Some(t) => &t.seal,
            None => &self.county.seal,
        }
    }

    /// Whether a department id exists at a level (in the county, or in at least one township).
    pub fn has_department(&self, level: Level, department: &str) -> bool {
        match level {
            Level::County => self.county.departments.iter().any(|d| d.id == department),
            Level::Township | Level::Village => self
                .townships
                .iter()
                .any(|t| t.departments.iter().any(|d| d.id == department)),
        }
    }
}

/// `rules/bundles/*.yaml`: 一件事一次办, several matters under one intake.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Bundle code, unique among matters and bundles.
    pub code: String,
    /// e.g. 我要开理发店
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Matter codes; a material with the same id in several matters is asked for once.
    pub matters: Vec<String>,
}

/// `rules/catalog.yaml`: the catalog's own header.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// e.g. 青山县政务服务事项目录
    pub name: String,
    /// The version policy staff declare, e.g. `2026.11-1` (the content hash identifies it exactly).
    pub version: String,
    /// Calendar region of the county for regional holidays (townships may add their own).
    #[serde(default)]
    pub calendar_region: Option<String>,
    /// Working days a one-time notice (补正) stays open unless a matter says otherwise.
    #[serde(default = "default_supplement_days")]
    pub supplement_days: u32,
}

fn default_supplement_days() -> u32 {
    20
}
