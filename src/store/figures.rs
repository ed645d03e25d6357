//! Supervision queries (电子监察) over `case_parts` (one row per matter of a case: every
//! matter's decision counts), `case_steps` and `ratings`: one aggregate statement
//! per request. The figures are summed in two levels whose inner level differs by backend (see
//! [`figures`]); everything else is the same SQL on both backends.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::conn::DbConnection;
use super::crypto::Keyring;
use super::handling::{PartRow, RatingRow, StepRow};
use super::mapping::{self, AsText};
use super::personal::FreeText;
use super::schema::{case_parts, case_steps, cases, ratings};
use super::{Backend, StoreError};
use crate::domain::handling::{Part, PartStatus, Rating};
use crate::domain::route::{Step, StepState};

/// How the figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureKey {
    /// The whole scope in one row.
    All,
    Township,
    Matter,
    /// The deciding department.
    Department,
    Window,
    /// The deciding level.
    Level,
    /// The clerk who took the case (首问负责人).
    Clerk,
}

impl FigureKey {
    fn column(self) -> &'static str {
        match self {
            Self::All => "'all'",
            Self::Township => "COALESCE(township, center_id)",
            Self::Matter => "track",
            Self::Department => "decider_unit",
            Self::Window => "COALESCE(window_id, '')",
            Self::Level => "decider_level",
            Self::Clerk => "COALESCE(clerk_id, '')",
        }
    }

    /// The `case_parts` columns the key is computed from.
    fn raw_columns(self) -> &'static [&'static str] {
        match self {
            Self::All => &[],
            Self::Township => &["township", "center_id"],
            Self::Matter => &["track"],
            Self::Department => &["decider_unit"],
            Self::Window => &["window_id"],
            Self::Level => &["decider_level"],
            Self::Clerk => &["clerk_id"],
        }
    }

    /// Whether SQLite's covering index holds the key's columns (the clerk is the case's, read
    /// through a join).
    fn in_index(self) -> bool {
        self.raw_columns().iter().all(|c| FIGURES_INDEX.contains(c))
    }

    /// SQLite's inner grouping: the shortest prefix of [`FIGURES_INDEX`] that holds every raw
    /// column of the key (rows of a finer group all share the key, so summing the groups by the
    /// key gives the same counts).
    fn index_prefix(self) -> String {
        let last = self
            .raw_columns()
            .iter()
            .filter_map(|c| FIGURES_INDEX.iter().position(|i| i == c))
            .max()
            .unwrap_or(0);
        FIGURES_INDEX[..=last].join(", ")
    }
}

/// The leading columns of SQLite's covering index `case_parts_figures` (migration
/// `2026-12-02-000006_case_lifecycle`), in its order. The index also holds every column the
/// counts read, so the figures are computed from the index alone.
const FIGURES_INDEX: [&str; 7] = [
    "accepted_on",
    "track",
    "decider_unit",
    "township",
    "center_id",
    "window_id",
    "decider_level",
];

/// The counts of one group, over `case_parts` rows (`$1` is today). `COUNT(x)` and
/// `COUNT(*) FILTER (WHERE …)` count what `SUM(CASE WHEN … THEN 1 ELSE 0 END)` counted; on SQLite
/// they took about a fifth less time over a year of cases. States are named through their types.
fn counts() -> String {
    format!(
        "COUNT(*) AS received,
    COUNT(decision) AS finished,
    COUNT(*) FILTER (WHERE on_time = 1) AS on_time,
    COUNT(*) FILTER (WHERE immediate = 1 AND decision IS NOT NULL) AS on_the_spot,
    SUM(immediate) AS immediate,
    COUNT(*) FILTER (WHERE status = '{running}' AND due_date < $1) AS overdue_now,
    SUM(days_used) AS days_used",
        running = PartStatus::InProgress.as_text()
    )
}

/// Counts for one group of cases accepted in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct FigureCounts {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub received: i64,
    #[diesel(sql_type = BigInt)]
    pub finished: i64,
    #[diesel(sql_type = BigInt)]
    pub on_time: i64,
    #[diesel(sql_type = BigInt)]
    pub on_the_spot: i64,
    #[diesel(sql_type = BigInt)]
    pub immediate: i64,
    #[diesel(sql_type = BigInt)]
    pub overdue_now: i64,
    #[diesel(sql_type = BigInt)]
    pub days_used: i64,
}

/// What happened at intake to the matters of the applications received in a period, in one
/// group: 接件量 and how the first answer went.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct IntakeCounts {
    #[diesel(sql_type = Text)]
    pub key: String,
    /// 接件量: matters applied for (a bundle counts each of its matters), whatever the answer.
    #[diesel(sql_type = BigInt)]
    pub taken: i64,
    /// 补办件: matters named in a one-time notice (一次性告知).
    #[diesel(sql_type = BigInt)]
    pub supplement_noticed: i64,
    /// 退回件: matters refused at intake (不予受理).
    #[diesel(sql_type = BigInt)]
    pub refused_at_intake: i64,
    /// Withdrawn by the applicant (撤回).
    #[diesel(sql_type = BigInt)]
    pub withdrawn: i64,
    /// Closed as 逾期未补正.
    #[diesel(sql_type = BigInt)]
    pub lapsed: i64,
    /// 好差评 of the case as a whole (一事一评), whatever its end.
    #[diesel(sql_type = BigInt)]
    pub rated: i64,
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = BigInt)]
    pub bad: i64,
    /// Ratings of each level, 1 (非常不满意) to 5 (非常满意).
    #[diesel(sql_type = BigInt)]
    pub rating_1: i64,
    #[diesel(sql_type = BigInt)]
    pub rating_2: i64,
    #[diesel(sql_type = BigInt)]
    pub rating_3: i64,
    #[diesel(sql_type = BigInt)]
    pub rating_4: i64,
    #[diesel(sql_type = BigInt)]
    pub rating_5: i64,
}

/// The counts of [`IntakeCounts`] for the applications received in `from..=to`, optionally only
/// one center's, grouped by `key`.
pub(crate) fn intake_figures(
    conn: &mut DbConnection,
    key: FigureKey,
    from: &str,
    to: &str,
    center: Option<&str>,
) -> Result<Vec<IntakeCounts>, StoreError> {
    let sql = intake_sql(key, center.is_some());
    macro_rules! run {
        ($c:expr, $sql:expr) => {{
            let q = diesel::sql_query($sql)
                .bind::<Text, _>(from)
                .bind::<Text, _>(to);
            match center {
                Some(t) => q.bind::<Text, _>(t).load::<IntakeCounts>($c)?,
                None => q.load::<IntakeCounts>($c)?,
            }
        }};
    }
    Ok(match conn {
        DbConnection::Pg(c) => run!(c, sql),
        DbConnection::Sqlite(c) => run!(c, sql.replace('$', "?")),
    })
}

/// The statement behind [`intake_figures`]: `$1`/`$2` the period of receipt, `$3` the center.
fn intake_sql(key: FigureKey, center: bool) -> String {
    let center = if center { "AND center_id = $3" } else { "" };
    let group = match key {
        FigureKey::All => "HAVING COUNT(*) > 0",
        _ => "GROUP BY 1 ORDER BY 1",
    };
    format!(
        "SELECT {k} AS key,
            COUNT(*) AS taken,
            COUNT(*) FILTER (WHERE supplement_notices > 0) AS supplement_noticed,
            COUNT(*) FILTER (WHERE status = '{refused}' AND accepted_on IS NULL) AS refused_at_intake,
            COUNT(*) FILTER (WHERE status = '{withdrawn}') AS withdrawn,
            COUNT(*) FILTER (WHERE status = '{lapsed}') AS lapsed,
            COUNT(rating) AS rated,
            COUNT(*) FILTER (WHERE rating >= 3) AS satisfied,
            COUNT(*) FILTER (WHERE rating <= 2) AS bad,
            COUNT(*) FILTER (WHERE rating = 1) AS rating_1,
            COUNT(*) FILTER (WHERE rating = 2) AS rating_2,
            COUNT(*) FILTER (WHERE rating = 3) AS rating_3,
            COUNT(*) FILTER (WHERE rating = 4) AS rating_4,
            COUNT(*) FILTER (WHERE rating = 5) AS rating_5
         FROM {source}
         WHERE received_on >= $1 AND received_on <= $2 {center}
         {group}",
        k = key.column(),
        source = WITH_CASE,
        refused = PartStatus::Refused.as_text(),
        withdrawn = PartStatus::Withdrawn.as_text(),
        lapsed = PartStatus::Lapsed.as_text(),
    )
}

/// `case_parts` with the case's day of receipt and clerk, under the table's own name, so that
/// the counts read the same column names.
const WITH_CASE: &str = "(SELECT p.*, c.received_on, c.clerk_id
           FROM case_parts p JOIN cases c ON c.id = p.case_id) AS case_parts";

/// The counts behind the figures of cases accepted in `from..=to` (YYYY-MM-DD), optionally only
/// those of one township's center, grouped by `key`. `today` decides what is overdue now.
pub(crate) fn figures(
    conn: &mut DbConnection,
    key: FigureKey,
    from: &str,
    to: &str,
    township: Option<&str>,
    today: &str,
) -> Result<Vec<FigureCounts>, StoreError> {
    let backend = match conn {
        DbConnection::Pg(_) => Backend::Postgres,
        DbConnection::Sqlite(_) => Backend::Sqlite,
    };
    let sql = figures_sql(key, backend, township.is_some());
    macro_rules! run {
        ($c:expr, $sql:expr) => {{
            let q = diesel::sql_query($sql)
                .bind::<Text, _>(today)
                .bind::<Text, _>(from)
                .bind::<Text, _>(to);
            match township {
                Some(t) => q.bind::<Text, _>(t).load::<FigureCounts>($c)?,
                None => q.load::<FigureCounts>($c)?,
            }
        }};
    }
    Ok(match conn {
        DbConnection::Pg(c) => run!(c, sql),
        // SQLite numbers its parameters the same way (`$1` … `$4` are `?1` … `?4`).
        DbConnection::Sqlite(c) => run!(c, sql.replace('$', "?")),
    })
}

/// The statement behind [`figures`]: `$1` today, `$2`/`$3` the period, `$4` the center (only
/// with `center`).
fn figures_sql(key: FigureKey, backend: Backend, center: bool) -> String {
    // Two levels: an inner aggregate over the rows, then the inner groups summed by the key.
    //
    // SQLite has no hash aggregation: a GROUP BY not served by an index sorts every row. Over
    // a year of 1,000,000 cases, one statement grouped by matter took 2.3 s, ungrouped 1.0 s
    // (BENCHMARKS.md). Its inner level therefore groups by a prefix of the covering index
    // `case_parts_figures` (the accepted day first, then the key's columns), which the index
    // delivers in order: no sort, and no table row is read. The outer level then sums these
    // groups (tens of thousands, not a million) by the key.
    //
    // PostgreSQL aggregates with a hash, in parallel; grouping it by the index prefix made it
    // about four times slower, so its inner level groups by the key's own columns.
    //
    // `All` has no grouping at all (PostgreSQL refuses a constant in GROUP BY); `HAVING
    // SUM(received) > 0` keeps the answer of no row for a period without cases.
    let inner = match (key, backend) {
        (FigureKey::All, _) => String::new(),
        (_, Backend::Sqlite) if key.in_index() => key.index_prefix(),
        _ => key.raw_columns().join(", "),
    };
    let source = if key.in_index() {
        "case_parts"
    } else {
        WITH_CASE
    };
    let (inner_select, inner_group) = if inner.is_empty() {
        (String::new(), String::new())
    } else {
        (format!("{inner}, "), format!("GROUP BY {inner}"))
    };
    // One center's figures. On SQLite `+center_id`: with a plain `center_id = ?` SQLite took
    // the column for a constant of the grouping and sorted the rows of a window or level
    // grouping after all; the unary plus (no effect on the value) keeps the term out of that
    // reasoning.
    let center = match (center, backend) {
        (false, _) => "",
        (true, Backend::Sqlite) => "AND +center_id = $4",
        (true, Backend::Postgres) => "AND center_id = $4",
    };
    let outer_group = match key {
        FigureKey::All => "HAVING SUM(received) > 0",
        _ => "GROUP BY 1 ORDER BY 1",
    };
    format!(
        "SELECT {k} AS key,
            CAST(SUM(received) AS BIGINT) AS received,
            CAST(SUM(finished) AS BIGINT) AS finished,
            CAST(SUM(on_time) AS BIGINT) AS on_time,
            CAST(SUM(on_the_spot) AS BIGINT) AS on_the_spot,
            CAST(SUM(immediate) AS BIGINT) AS immediate,
            CAST(SUM(overdue_now) AS BIGINT) AS overdue_now,
            CAST(COALESCE(SUM(days_used), 0) AS BIGINT) AS days_used
         FROM (SELECT {inner_select}{counts}
               FROM {source}
               WHERE accepted_on >= $2 AND accepted_on <= $3 {center}
               {inner_group}) AS g
         {outer_group}",
        k = key.column(),
        counts = counts(),
    )
}

/// A matter of a case, with where the case was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartOfCase {
    pub case_id: String,
    pub center_id: String,
    pub part: Part,
}

/// A rating of a case, with where the case was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingOfCase {
    pub case_id: String,
    pub center_id: String,
    pub matter_code: String,
    pub rating: Rating,
}

fn parts_of(rows: Vec<PartRow>, keys: Option<&Keyring>) -> Result<Vec<PartOfCase>, StoreError> {
    rows.into_iter()
        .map(|mut r| {
            r.open(keys)?;
            let r = &r;
            Ok(PartOfCase {
                case_id: r.case_id.clone(),
                center_id: r.center_id.clone(),
                part: mapping::part_of(r)?,
            })
        })
        .collect()
}

/// Matters in progress whose deadline is yellow (`warn_on <= today`) or red, or whose dates are
/// still pending past the published calendar, earliest due first.
pub(crate) fn case_alerts(
    conn: &mut DbConnection,
    today: &str,
    township: Option<&str>,
    limit: i64,
    keys: Option<&Keyring>,
) -> Result<Vec<PartOfCase>, StoreError> {
    use case_parts::dsl as p;
    let mut q = p::case_parts
        .filter(p::status.eq(PartStatus::InProgress.as_text()))
        .filter(
            p::warn_on
                .le(today)
                .or(p::due_date.is_null().and(p::due_days.is_not_null())),
        )
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(p::center_id.eq(t));
    }
    let rows = q
        .order((p::due_date.asc(), p::case_id.asc(), p::track.asc()))
        .limit(limit)
        .select(PartRow::as_select())
        .load(conn)?;
    parts_of(rows, keys)
}

/// Active steps whose deadline is yellow or red, earliest due first.
pub(crate) fn step_alerts(
    conn: &mut DbConnection,
    today: &str,
    township: Option<&str>,
    limit: i64,
    keys: Option<&Keyring>,
) -> Result<Vec<(String, Step)>, StoreError> {
    use case_steps::dsl as s;
    let mut q = s::case_steps
        .filter(s::state.eq(StepState::Active.as_text()))
        .filter(s::warn_on.le(today).or(s::escalated.eq(1)))
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(
            s::case_id.eq_any(
                cases::table
                    .filter(cases::center_id.eq(t.to_string()))
                    .select(cases::id),
            ),
        );
    }
    let rows = q
        .order((s::due_date.asc(), s::id.asc()))
        .limit(limit)
        .select(StepRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|mut r| {
            r.open(keys)?;
            Ok((r.case_id.clone(), mapping::step_of(&r)?))
        })
        .collect()
}

/// 差评 whose follow-up is not closed.
pub(crate) fn open_followups(
    conn: &mut DbConnection,
    township: Option<&str>,
    limit: i64,
    keys: Option<&Keyring>,
) -> Result<Vec<RatingOfCase>, StoreError> {
    use ratings::dsl as r;
    let mut q = r::ratings
        .inner_join(cases::table)
        .filter(r::followup_due.is_not_null())
        .filter(r::followup_closed_on.is_null())
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(cases::center_id.eq(t));
    }
    let rows: Vec<(RatingRow, String, String)> = q
        .order((r::followup_due.asc(), r::case_id.asc()))
        .limit(limit)
        .select((RatingRow::as_select(), cases::center_id, cases::matter_code))
        .load(conn)?;
    rows.into_iter()
        .map(|(mut row, center_id, matter_code)| {
            row.open(keys)?;
            Ok(RatingOfCase {
                case_id: row.case_id.clone(),
                center_id,
                matter_code,
                rating: mapping::rating_of(&row)?,
            })
        })
        .collect()
}

/// Decided matters whose result is not delivered and whose delivery limit (Art. 44) has passed.
pub(crate) fn undelivered(
    conn: &mut DbConnection,
    today: &str,
    township: Option<&str>,
    limit: i64,
    keys: Option<&Keyring>,
) -> Result<Vec<PartOfCase>, StoreError> {
    use case_parts::dsl as p;
    let mut q = p::case_parts
        .filter(p::status.eq(PartStatus::Decided.as_text()))
        .filter(p::delivered_on.is_null())
        .filter(p::delivery_due.lt(today))
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(p::center_id.eq(t));
    }
    let rows = q
        .order((p::delivery_due.asc(), p::case_id.asc()))
        .limit(limit)
        .select(PartRow::as_select())
        .load(conn)?;
    parts_of(rows, keys)
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

    use super::{figures_sql, Backend, FigureKey};

    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    /// On SQLite every grouping reads the covering index alone and sorts no case rows: its
    /// inner grouping must stay a prefix of `case_parts_figures` (`FIGURES_INDEX` and the
    /// migration must agree). The one sort left is the outer one, over the inner groups.
    #[test]
    fn sqlite_figures_read_only_the_covering_index_and_sort_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db").display().to_string();
        crate::store::migrate(&path).unwrap();
        let mut c = SqliteConnection::establish(&path).unwrap();
        for key in [
            FigureKey::All,
            FigureKey::Township,
            FigureKey::Matter,
            FigureKey::Department,
            FigureKey::Window,
            FigureKey::Level,
        ] {
            for center in [false, true] {
                let sql = figures_sql(key, Backend::Sqlite, center).replace('$', "?");
                let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                    .load(&mut c)
                    .unwrap();
                let plan: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
                assert!(
                    plan.iter()
                        .any(|d| d.contains("COVERING INDEX case_parts_figures")),
                    "{key:?}: {plan:?}"
                );
                let sorts = plan.iter().filter(|d| d.contains("TEMP B-TREE")).count();
                let outer = usize::from(key != FigureKey::All);
                assert_eq!(sorts, outer, "{key:?}: {plan:?}");
            }
        }
    }
}
