//! Supervision queries (电子监察) over `case_handling` and `case_steps`: one aggregate statement
//! per request, the same SQL on both backends.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::conn::DbConnection;
use super::handling::{HandlingRow, StepRow};
use super::schema::{case_handling, case_steps};
use super::StoreError;

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
}

impl FigureKey {
    fn column(self) -> &'static str {
        match self {
            Self::All => "'all'",
            Self::Township => "COALESCE(township, center_id)",
            Self::Matter => "matter_code",
            Self::Department => "decider_unit",
            Self::Window => "COALESCE(window_id, '')",
            Self::Level => "decider_level",
        }
    }
}

/// Counts for one group of cases accepted in the period.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
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
    #[diesel(sql_type = BigInt)]
    pub rated: i64,
    #[diesel(sql_type = BigInt)]
    pub satisfied: i64,
    #[diesel(sql_type = BigInt)]
    pub bad: i64,
}

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
    // `GROUP BY 1` (the key column) rather than the key expression: for `All` the key is the
    // constant 'all', and PostgreSQL refuses a constant in GROUP BY ("non-integer constant in
    // GROUP BY"); by position it groups all rows into one, as SQLite does, and an empty period
    // still gives no row on both backends.
    let sql = format!(
        "SELECT {k} AS key,
            CAST(COUNT(*) AS BIGINT) AS received,
            CAST(SUM(CASE WHEN decision IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS finished,
            CAST(SUM(CASE WHEN on_time = 1 THEN 1 ELSE 0 END) AS BIGINT) AS on_time,
            CAST(SUM(CASE WHEN decided_on = accepted_on THEN 1 ELSE 0 END) AS BIGINT) AS on_the_spot,
            CAST(SUM(immediate) AS BIGINT) AS immediate,
            CAST(SUM(CASE WHEN state = 'in_progress' AND due_date < $1 THEN 1 ELSE 0 END) AS BIGINT) AS overdue_now,
            CAST(COALESCE(SUM(days_used), 0) AS BIGINT) AS days_used,
            CAST(SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS rated,
            CAST(SUM(CASE WHEN rating >= 3 THEN 1 ELSE 0 END) AS BIGINT) AS satisfied,
            CAST(SUM(CASE WHEN rating <= 2 THEN 1 ELSE 0 END) AS BIGINT) AS bad
         FROM case_handling
         WHERE accepted_on >= $2 AND accepted_on <= $3 AND ($4 IS NULL OR center_id = $4)
         GROUP BY 1
         ORDER BY 1",
        k = key.column()
    );
    macro_rules! run {
        ($c:expr, $sql:expr) => {
            diesel::sql_query($sql)
                .bind::<Text, _>(today)
                .bind::<Text, _>(from)
                .bind::<Text, _>(to)
                .bind::<Nullable<Text>, _>(township)
                .load::<FigureCounts>($c)?
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => run!(c, sql.replace("$4 IS NULL", "CAST($4 AS TEXT) IS NULL")),
        // SQLite numbers its parameters the same way (`$1` … `$4` are `?1` … `?4`).
        DbConnection::Sqlite(c) => run!(c, sql.replace('$', "?")),
    })
}

/// Cases in progress whose deadline is yellow (`warn_on <= today`) or red, earliest due first.
pub(crate) fn case_alerts(
    conn: &mut DbConnection,
    today: &str,
    township: Option<&str>,
    limit: i64,
) -> Result<Vec<HandlingRow>, StoreError> {
    use case_handling::dsl as h;
    let mut q = h::case_handling
        .filter(h::state.eq("in_progress"))
        .filter(h::warn_on.le(today))
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(h::center_id.eq(t));
    }
    Ok(q.order((h::due_date.asc(), h::case_id.asc()))
        .limit(limit)
        .select(HandlingRow::as_select())
        .load(conn)?)
}

/// Active steps whose deadline is yellow or red, earliest due first.
pub(crate) fn step_alerts(
    conn: &mut DbConnection,
    today: &str,
    township: Option<&str>,
    limit: i64,
) -> Result<Vec<StepRow>, StoreError> {
    use case_handling::dsl as h;
    use case_steps::dsl as s;
    let mut q = s::case_steps
        .filter(s::state.eq("active"))
        .filter(s::warn_on.le(today))
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(
            s::case_id.eq_any(
                h::case_handling
                    .filter(h::center_id.eq(t.to_string()))
                    .select(h::case_id),
            ),
        );
    }
    Ok(q.order((s::due_date.asc(), s::id.asc()))
        .limit(limit)
        .select(StepRow::as_select())
        .load(conn)?)
}

/// Decided cases whose result is not delivered yet, and 差评 follow-ups not closed.
pub(crate) fn open_followups(
    conn: &mut DbConnection,
    township: Option<&str>,
    limit: i64,
) -> Result<Vec<HandlingRow>, StoreError> {
    use case_handling::dsl as h;
    let mut q = h::case_handling
        .filter(h::followup_due.is_not_null())
        .filter(h::followup_closed_on.is_null())
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(h::center_id.eq(t));
    }
    Ok(q.order((h::followup_due.asc(), h::case_id.asc()))
        .limit(limit)
        .select(HandlingRow::as_select())
        .load(conn)?)
}

/// Decided cases whose result is not delivered and whose delivery limit (Art. 44) has passed.
pub(crate) fn undelivered(
    conn: &mut DbConnection,
    today: &str,
    township: Option<&str>,
    limit: i64,
) -> Result<Vec<HandlingRow>, StoreError> {
    use case_handling::dsl as h;
    let mut q = h::case_handling
        .filter(h::state.eq("decided"))
        .filter(h::delivered_on.is_null())
        .filter(h::delivery_due.lt(today))
        .into_boxed();
    if let Some(t) = township {
        q = q.filter(h::center_id.eq(t));
    }
    Ok(q.order((h::delivery_due.asc(), h::case_id.asc()))
        .limit(limit)
        .select(HandlingRow::as_select())
        .load(conn)?)
}
