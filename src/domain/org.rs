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
    /// Address, telephone, office hours and website of the county center (on notices and guides).
    #[serde(default)]
    pub contact: Option<Contact>,
    /// 救济途径: the 行政复议机关 and the people's court named on refusals and 不予决定 (a
    /// township or a department may name its own).
    #[serde(default)]
    pub remedies: Option<Remedies>,
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
    /// Address, telephone, office hours and website of the township center.
    #[serde(default)]
    pub contact: Option<Contact>,
    /// 救济途径 of this township's decisions and refusals, when not the county's.
    #[serde(default)]
    pub remedies: Option<Remedies>,
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
    /// 救济途径 of this department's decisions, when not its place's (e.g. a vertically led
    /// department such as the tax bureau, whose 复议机关 is the bureau above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedies: Option<Remedies>,
}

/// How the public reaches a center: printed on every notice and service guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// 办公地址, e.g. 青山县人民路88号
    pub address: String,
    /// 咨询电话, e.g. 0571-6500 1234
    pub telephone: String,
    /// 办公时间, e.g. 工作日 8:30—12:00，14:00—17:30
    pub hours: String,
    /// 网址
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// 行政复议法 Art. 20: at least sixty days from knowing of the decision.
pub const REVIEW_DAYS_MIN: u32 = 60;
/// 行政诉讼法 Art. 46: six months from knowing of the decision.
pub const LAWSUIT_MONTHS_MIN: u32 = 6;

/// 救济途径: where an applicant may seek 行政复议 and 行政诉讼 against a refusal or a 不予决定.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remedies {
    /// 行政复议机关, e.g. 青山县人民政府
    pub review_body: String,
    /// The people's court of first instance, e.g. 青山县人民法院
    pub court: String,
    /// Days to apply for 行政复议 (the law's sixty, or longer where a law says so).
    #[serde(default = "default_review_days")]
    pub review_days: u32,
    /// Months to sue (the law's six, or longer where a law says so).
    #[serde(default = "default_lawsuit_months")]
    pub lawsuit_months: u32,
}

fn default_review_days() -> u32 {
    REVIEW_DAYS_MIN
}

fn default_lawsuit_months() -> u32 {
    LAWSUIT_MONTHS_MIN
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
    /// The place name, service center name and seal name of the center that issues a case's
    /// papers: the township's, or the county's for a case without a township.
    pub fn issuing_center(&self, township: Option<&str>) -> (String, String, String) {
        match township.and_then(|t| self.township(t)) {
            Some(t) => (t.name.clone(), t.center.clone(), t.seal.clone()),
            None => (
                self.county.name.clone(),
                self.county.center.clone(),
                self.county.seal.clone(),
            ),
        }
    }

    pub fn township(&self, id: &str) -> Option<&Township> {
        self.townships.iter().find(|t| t.id == id)
    }

    /// The village and the township it belongs to.
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

    /// The contact details of the center that takes a case (the township's, else the county's).
    pub fn contact(&self, township: Option<&str>) -> Option<&Contact> {
        township
            .and_then(|id| self.township(id))
            .and_then(|t| t.contact.as_ref())
            .or(self.county.contact.as_ref())
    }

    /// The 救济途径 against a decision of `unit` (a department, or a center), taken in
    /// `township`: the department's own, else its township's, else the county's.
    pub fn remedies(&self, unit: Option<&UnitId>, township: Option<&str>) -> Option<&Remedies> {
        let department = unit.and_then(|u| {
            let place = u.place();
            let dept = u.department_id()?;
            let list = if place == self.county.id {
                &self.county.departments
            } else {
                &self.township(place)?.departments
            };
            list.iter().find(|d| d.id == dept)?.remedies.as_ref()
        });
        let place = unit.map(UnitId::place).or(township);
        department
            .or_else(|| {
                place
                    .and_then(|id| self.township(id))
                    .and_then(|t| t.remedies.as_ref())
            })
            .or(self.county.remedies.as_ref())
    }

    /// The name of a unit: a department of the county or a township, or a center.
    pub fn unit_name(&self, unit: &UnitId) -> Option<String> {
        let place = unit.place();
        let (center, departments) = if place == self.county.id {
            (&self.county.center, &self.county.departments)
        } else {
            let t = self.township(place)?;
            (&t.center, &t.departments)
        };
        match unit.department_id() {
            None => Some(center.clone()),
            Some(d) => departments
                .iter()
                .find(|x| x.id == d)
                .map(|x| x.name.clone()),
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
