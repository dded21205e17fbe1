//! Ready to distribute by company (issue 25): Citus can distribute a table by `company_id` only
//! if each of its primary keys, unique keys and exclusion constraints includes that column, and
//! keeps a foreign key between distributed tables only if both sides carry it. These tests read
//! the migrated catalog and name every table and key that breaks those rules, so a new
//! migration cannot quietly make the schema one-machine-only. The reference tables (copied to
//! every node, not distributed) are listed with their reasons in `store::REFERENCE_TABLES`.

use std::collections::HashMap;

use callsync::store::REFERENCE_TABLES;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{Bool, Nullable, SmallInt, Text};
use diesel::{PgConnection, QueryableByName, RunQueryDsl};

use crate::harness::TestDatabase;

/// The distribution column.
const COMPANY: &str = "company_id";

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
    /// `company_id`'s column number, when the table has one.
    #[diesel(sql_type = Nullable<SmallInt>)]
    company: Option<i16>,
    #[diesel(sql_type = Nullable<Bool>)]
    company_not_null: Option<bool>,
}

#[derive(QueryableByName)]
struct UniqueIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    definition: String,
    /// The key columns' numbers (0 for an expression), INCLUDE columns left out: those do not
    /// take part in uniqueness.
    #[diesel(sql_type = Text)]
    keys: String,
}

#[derive(QueryableByName)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    from_table: String,
    #[diesel(sql_type = Text)]
    to_table: String,
    #[diesel(sql_type = Text)]
    from_keys: String,
    #[diesel(sql_type = Text)]
    to_keys: String,
}

fn numbers(list: &str) -> Vec<i16> {
    list.split_whitespace().map(|n| n.parse().expect("a column number")).collect()
}

/// Every way the database's public schema could not be distributed by company unchanged.
fn problems(conn: &mut PgConnection) -> Vec<String> {
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT c.relname::text AS name, a.attnum AS company, a.attnotnull AS company_not_null
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            AND c.relname <> '__diesel_schema_migrations'
          ORDER BY 1",
    )
    .bind::<Text, _>(COMPANY)
    .load(conn)
    .unwrap();
    // Unique indexes cover primary keys, unique constraints, and partial or expression unique
    // indexes alike; an exclusion constraint is a uniqueness rule too.
    let unique: Vec<UniqueIndex> = diesel::sql_query(
        "SELECT t.relname::text AS table_name, pg_get_indexdef(i.indexrelid) AS definition,
                array_to_string((i.indkey::int2[])[0:i.indnkeyatts - 1], ' ') AS keys
           FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = 'public' AND (i.indisunique OR i.indisexclusion)
            AND t.relname <> '__diesel_schema_migrations'
          ORDER BY 1, 2",
    )
    .load(conn)
    .unwrap();
    let foreign: Vec<ForeignKey> = diesel::sql_query(
        "SELECT k.conname::text AS name, t.relname::text AS from_table, r.relname::text AS to_table,
                array_to_string(k.conkey, ' ') AS from_keys, array_to_string(k.confkey, ' ') AS to_keys
           FROM pg_constraint k
           JOIN pg_class t ON t.oid = k.conrelid
           JOIN pg_class r ON r.oid = k.confrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = 'public' AND k.contype = 'f'
          ORDER BY 2, 1",
    )
    .load(conn)
    .unwrap();

    let reference = |table: &str| REFERENCE_TABLES.iter().any(|(name, _)| *name == table);
    let company: HashMap<&str, Option<i16>> = tables.iter().map(|t| (t.name.as_str(), t.company)).collect();
    let mut found = Vec::new();
    for (name, _) in REFERENCE_TABLES {
        if !company.contains_key(name) {
            found.push(format!("reference table {name} does not exist (a stale entry in REFERENCE_TABLES)"));
        }
    }
    for t in tables.iter().filter(|t| !reference(&t.name)) {
        match (t.company, t.company_not_null) {
            (None, _) => found.push(format!(
                "table {} has no {COMPANY} column and is not a reference table (store::REFERENCE_TABLES)",
                t.name
            )),
            // Citus refuses a row whose distribution value is NULL.
            (Some(_), Some(false)) => found.push(format!("table {}: {COMPANY} may be NULL", t.name)),
            _ => {}
        }
    }
    for index in unique.iter().filter(|i| !reference(&i.table_name)) {
        let Some(Some(column)) = company.get(index.table_name.as_str()) else { continue };
        if !numbers(&index.keys).contains(column) {
            found.push(format!(
                "table {}: unique key without {COMPANY} as a key column: {}",
                index.table_name, index.definition
            ));
        }
    }
    for key in &foreign {
        match (reference(&key.from_table), reference(&key.to_table)) {
            (true, false) => found.push(format!(
                "reference table {} has foreign key {} to tenant table {}",
                key.from_table, key.name, key.to_table
            )),
            (false, false) => {
                let (from, to) = (numbers(&key.from_keys), numbers(&key.to_keys));
                let from_company = company.get(key.from_table.as_str()).copied().flatten();
                let to_company = company.get(key.to_table.as_str()).copied().flatten();
                // The same position on both sides: this row's company is the referenced row's.
                let paired =
                    from.iter().zip(&to).any(|(f, t)| Some(*f) == from_company && Some(*t) == to_company);
                if !paired {
                    found.push(format!(
                        "foreign key {} from {} to {} does not match {COMPANY} with {COMPANY}",
                        key.name, key.from_table, key.to_table
                    ));
                }
            }
            // A tenant's row may point at a reference table's (a copy is on every node).
            _ => {}
        }
    }
    found
}

#[test]
fn every_tenant_key_includes_the_company() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    let found = problems(&mut conn);
    assert!(found.is_empty(), "not distributable by {COMPANY}:\n{}", found.join("\n"));
}

/// The check itself: each kind of mistake is found and named (so an empty list above means
/// something).
#[test]
fn the_check_names_each_kind_of_mistake() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    conn.batch_execute(
        "CREATE TABLE no_company (id bigint PRIMARY KEY);
         CREATE TABLE nullable_company (company_id uuid REFERENCES companies (id), id bigint,
                                        UNIQUE (company_id, id));
         CREATE TABLE keyed_by_id (company_id uuid NOT NULL REFERENCES companies (id), id bigint PRIMARY KEY,
                                   code text, note text);
         CREATE UNIQUE INDEX keyed_by_id_code ON keyed_by_id (lower(code)) WHERE note IS NULL;
         CREATE UNIQUE INDEX keyed_by_id_note ON keyed_by_id (note) INCLUDE (company_id);
         CREATE TABLE points_by_id (company_id uuid NOT NULL, keyed_id bigint, id bigint,
                                    PRIMARY KEY (company_id, id));
         ALTER TABLE points_by_id ADD CONSTRAINT points_by_id_keyed
             FOREIGN KEY (keyed_id) REFERENCES keyed_by_id (id);
         ALTER TABLE api_keys ADD COLUMN customer_company uuid, ADD COLUMN customer_id bigint,
             ADD CONSTRAINT api_keys_customer FOREIGN KEY (customer_company, customer_id)
                 REFERENCES customers (company_id, id);",
    )
    .unwrap();
    let found = problems(&mut conn);
    let expected = [
        "table no_company has no company_id column",
        "table nullable_company: company_id may be NULL",
        "table keyed_by_id: unique key without company_id as a key column: CREATE UNIQUE INDEX keyed_by_id_pkey",
        "table keyed_by_id: unique key without company_id as a key column: CREATE UNIQUE INDEX keyed_by_id_code",
        "table keyed_by_id: unique key without company_id as a key column: CREATE UNIQUE INDEX keyed_by_id_note",
        "foreign key points_by_id_keyed from points_by_id to keyed_by_id does not match",
        "reference table api_keys has foreign key api_keys_customer to tenant table customers",
    ];
    for text in expected {
        assert!(found.iter().any(|f| f.starts_with(text)), "{text:?} not among:\n{}", found.join("\n"));
    }
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
}

/// What the composite foreign keys add on one machine already: a row of one company cannot
/// point at another company's row (a task of B for A's customer is refused).
#[test]
fn a_row_cannot_point_at_another_companys_row() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    conn.batch_execute(
        "INSERT INTO companies (id, name, created_at, updated_at) VALUES
             ('00000000-0000-0000-0000-00000000000a', 'A', now(), now()),
             ('00000000-0000-0000-0000-00000000000b', 'B', now(), now());
         INSERT INTO customers (id, company_id, external_id, created_at, updated_at) VALUES
             (1, '00000000-0000-0000-0000-00000000000a', 'a-1', now(), now());
         INSERT INTO schedules (id, company_id, name, task_type, calling_hours_start, calling_hours_end,
                                cadence, created_at, updated_at)
         VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-00000000000b', 'b',
                 'collections', '09:00', '17:00', '[]', now(), now());",
    )
    .unwrap();
    let refused = conn
        .batch_execute(
            "INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, attempt, scheduled_for, time_zone,
                                created_at, updated_at)
             VALUES ('00000000-0000-0000-0000-00000000000b', 1, '00000000-0000-0000-0000-0000000000b1',
                     'collections', 1, now(), 'UTC', now(), now())",
        )
        .expect_err("a task of company B for company A's customer");
    assert!(refused.to_string().contains("tasks_customer_fkey"), "{refused}");
}
