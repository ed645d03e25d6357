//! PostgreSQL: the rows of several tables written in one statement of fixed text.
//!
//! A multi-row `INSERT … VALUES (…), (…)` has a different text for every number of rows, so
//! PostgreSQL parses and plans it anew each time (a third of the server's time in a batch of
//! intakes), and one statement per table is one network round trip per table. Here each table's
//! rows are bound as one array per column and inserted with `SELECT * FROM unnest(…)`; the
//! tables of a batch are data-modifying `WITH` parts of one statement. Its text depends only on
//! the tables and columns, never on the number of rows, so the connection prepares it once and
//! a batch of intakes costs one round trip for all of its rows. (Foreign keys are checked at the
//! end of the statement, after every part has inserted its rows.)

use diesel::expression::Expression;
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};
use diesel::{Column, QueryResult, RunQueryDsl};

/// One column's values, one per row.
enum Values<'a> {
    Text(Vec<&'a str>),
    MaybeText(Vec<Option<&'a str>>),
    Int(Vec<i64>),
    MaybeInt(Vec<Option<i64>>),
    Int4(Vec<i32>),
}

/// The rows of one table as columns.
pub(crate) struct Columns<'a> {
    table: &'static str,
    columns: Vec<(&'static str, Values<'a>)>,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(table: &'static str) -> Self {
        Self {
            table,
            columns: Vec::new(),
        }
    }

    /// A `TEXT NOT NULL` column of the table (its name and type checked by the compiler).
    pub(crate) fn text<C>(mut self, _: C, v: impl Iterator<Item = &'a str>) -> Self
    where
        C: Column + Expression<SqlType = Text>,
    {
        self.columns.push((C::NAME, Values::Text(v.collect())));
        self
    }

    pub(crate) fn maybe_text<C>(mut self, _: C, v: impl Iterator<Item = Option<&'a str>>) -> Self
    where
        C: Column + Expression<SqlType = Nullable<Text>>,
    {
        self.columns.push((C::NAME, Values::MaybeText(v.collect())));
        self
    }

    pub(crate) fn int<C>(mut self, _: C, v: impl Iterator<Item = i64>) -> Self
    where
        C: Column + Expression<SqlType = BigInt>,
    {
        self.columns.push((C::NAME, Values::Int(v.collect())));
        self
    }

    pub(crate) fn maybe_int<C>(mut self, _: C, v: impl Iterator<Item = Option<i64>>) -> Self
    where
        C: Column + Expression<SqlType = Nullable<BigInt>>,
    {
        self.columns.push((C::NAME, Values::MaybeInt(v.collect())));
        self
    }

    pub(crate) fn int4<C>(mut self, _: C, v: impl Iterator<Item = i32>) -> Self
    where
        C: Column + Expression<SqlType = Integer>,
    {
        self.columns.push((C::NAME, Values::Int4(v.collect())));
        self
    }

    /// `INSERT INTO "t" ("a", "b") SELECT * FROM unnest($1, $2)`
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_identifier(self.table)?;
        out.push_sql(" (");
        for (n, (name, _)) in self.columns.iter().enumerate() {
            if n > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(name)?;
        }
        out.push_sql(") SELECT * FROM unnest(");
        for (n, (_, values)) in self.columns.iter().enumerate() {
            if n > 0 {
                out.push_sql(", ");
            }
            match values {
                Values::Text(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                Values::MaybeText(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(v)?,
                Values::Int(v) => out.push_bind_param::<Array<BigInt>, _>(v)?,
                Values::MaybeInt(v) => out.push_bind_param::<Array<Nullable<BigInt>>, _>(v)?,
                Values::Int4(v) => out.push_bind_param::<Array<Integer>, _>(v)?,
            }
        }
        out.push_sql(")");
        Ok(())
    }
}

/// The rows of several tables, inserted by one statement.
pub(crate) struct Together<'a>(pub(crate) Vec<Columns<'a>>);

impl Together<'_> {
    /// Writes every table's rows (tables without rows included: their arrays are empty, and
    /// the statement's text stays the same).
    pub(crate) fn write(self, conn: &mut PgConnection) -> QueryResult<()> {
        if !self.0.is_empty() {
            self.execute(conn)?;
        }
        Ok(())
    }
}

impl QueryId for Together<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Together<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let Some((last, first)) = self.0.split_last() else {
            return Ok(());
        };
        for (n, t) in first.iter().enumerate() {
            out.push_sql(if n == 0 { "WITH " } else { ", " });
            out.push_sql(&format!("w{n} AS ("));
            t.walk(&mut out)?;
            out.push_sql(")");
        }
        if !first.is_empty() {
            out.push_sql(" ");
        }
        last.walk(&mut out)
    }
}

impl RunQueryDsl<PgConnection> for Together<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    diesel::table! {
        a (x) {
            x -> Text,
            y -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        b (z) {
            z -> Integer,
        }
    }

    fn sql(rows: &[(&str, Option<i64>)]) -> String {
        let t = Together(vec![
            Columns::new("a")
                .text(a::x, rows.iter().map(|r| r.0))
                .maybe_int(a::y, rows.iter().map(|r| r.1)),
            Columns::new("b").int4(b::z, rows.iter().map(|_| 1)),
        ]);
        let text = diesel::debug_query::<Pg, _>(&t).to_string();
        text.split(" -- binds")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// The text is the same whatever the number of rows (so PostgreSQL prepares it once).
    #[test]
    fn the_statement_text_does_not_depend_on_the_rows() {
        let one = sql(&[("p", Some(1))]);
        assert_eq!(
            one,
            r#"WITH w0 AS (INSERT INTO "a" ("x", "y") SELECT * FROM unnest($1, $2)) INSERT INTO "b" ("z") SELECT * FROM unnest($3)"#
        );
        assert_eq!(sql(&[]), one);
        assert_eq!(sql(&[("p", None); 250]), one);
    }
}
