//! Multi-row INSERTs on both backends: the batches the writer commits.

/// Inserts `rows` (a slice of rows that are `Clone`, such as references) into `table` in
/// multi-row INSERT statements of at most `ROWS_PER_INSERT` rows, run on the concrete
/// connection: diesel's `MultiConnection` cannot build a multi-row INSERT for both backends at
/// once. Inside the caller's transaction. The row types carry
/// `#[diesel(treat_none_as_default_value = false)]`: without it diesel writes a SQLite batch one
/// row at a time inside a savepoint of its own, which is slower and, on a full disk, answers
/// "no such savepoint" instead of the outage (the `single_statement_batches` test checks it).
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut written: Result<(), StoreError> = Ok(());
        for chunk in $rows.chunks($crate::store::batch::ROWS_PER_INSERT) {
            let done = match &mut *$conn {
                DbConnection::Pg(c) => diesel::insert_into($table)
                    .values(chunk.to_vec())
                    .execute(c),
                DbConnection::Sqlite(c) => diesel::insert_into($table)
                    .values(chunk.to_vec())
                    .execute(c),
            };
            if let Err(e) = done {
                written = Err(StoreError::from(e));
                break;
            }
        }
        written
    }};
}
pub(crate) use insert_rows;

/// Rows per multi-row INSERT: far below both backends' bound-parameter limits.
pub(crate) const ROWS_PER_INSERT: usize = 100;
