//! A contact history in one query: calls by every path, pending tasks, and the number's marks
//! (suppression, Do Not Call on any record, consent).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::StoreError;

/// One row of a contact history: a call (any status) or a pending task.
#[derive(Debug, Clone, QueryableByName)]
pub struct HistoryRow {
    /// What the row is: [`HISTORY_CALL`], [`HISTORY_TASK`] or [`HISTORY_SUPPRESSED`].
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub customer_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub to_number: Option<String>,
    /// A call's attempt time, or a task's scheduled time.
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub ended_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub task_id: Option<Uuid>,
}

/// A call to the person (any path).
pub const HISTORY_CALL: &str = "call";
/// One of the customer's pending tasks (a planned attempt).
pub const HISTORY_TASK: &str = "task";
/// The number is on the company's suppression list (`at` is when it was added).
pub const HISTORY_SUPPRESSED: &str = "suppressed";
/// The number is marked Do Not Call on one of the company's customer records.
pub const HISTORY_DO_NOT_CALL: &str = "do_not_call";
/// A consent recorded for the number (`status`: its type, or REVOKED).
pub const HISTORY_CONSENT: &str = "consent";

/// Everything a contact decision needs about these people, in one query: their calls since
/// `since` (to the customers, or to the numbers, by any path), their pending tasks, and which
/// of the numbers are suppressed.
pub fn contact_history(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    numbers: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<HistoryRow>, StoreError> {
    let statement = diesel::sql_query(
        "SELECT 'call' AS kind, customer_id, to_number, created_at AS at,
                -- A call that reached a wrong number was no conversation with the consumer.
                CASE WHEN outcome = 'WRONG_NUMBER' AND status = 'COMPLETED' THEN 'NO_ANSWER' ELSE status END AS status,
                ended_at, NULL::uuid AS task_id
           FROM calls
          WHERE company_id = $1 AND created_at >= $4
            AND (customer_id = ANY($2) OR to_number = ANY($3))
         UNION ALL
         SELECT 'task', customer_id, NULL, scheduled_for, status, NULL, id
           FROM tasks
          WHERE company_id = $1 AND customer_id = ANY($2) AND status = 'PENDING'
         UNION ALL
         SELECT 'suppressed', NULL, phone_number, created_at, source, NULL, NULL
           FROM suppressed_numbers
          WHERE company_id = $1 AND phone_number = ANY($3)
         UNION ALL
         SELECT 'do_not_call', id, phone_number, updated_at, '', NULL, NULL
           FROM customers
          WHERE company_id = $1 AND phone_number = ANY($3) AND do_not_call
         UNION ALL
         SELECT 'consent', NULL, phone_number, obtained_at,
                CASE WHEN revoked_at IS NULL THEN type ELSE 'REVOKED' END, NULL, NULL
           FROM consents
          WHERE company_id = $1 AND phone_number = ANY($3)",
    )
    .bind::<SqlUuid, _>(company_id)
    .bind::<Array<BigInt>, _>(customer_ids)
    .bind::<Array<Text>, _>(numbers)
    .bind::<Timestamptz, _>(since);
    // Constant text: prepared once per connection.
    Ok(super::prepared::prepared(statement).load(conn)?)
}
