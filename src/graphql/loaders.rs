//! DataLoaders for nested fields: a page of tasks with their customers and schedules is a
//! constant number of queries. One loader per request, scoped to the request's company.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use crate::store::calls::{self, CallRow};
use crate::store::customers::{self, CustomerRow};
use crate::store::schedules::{self, ScheduleRow};
use crate::store::tasks::TaskRow;
use crate::store::{tasks, Db, StoreError};

/// A customer by internal row id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerKey(pub i64);
/// A schedule by id (deleted ones included: tasks keep showing where they came from).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleKey(pub Uuid);
/// A task by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskKey(pub Uuid);
/// The latest call of a task.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallOfTaskKey(pub Uuid);
/// The loans of a customer (by internal id).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoansKey(pub i64);
/// The number of pending tasks of a schedule.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingTasksKey(pub Uuid);

/// The first page (`first` items, plus one to know if there is more) of a customer's tasks,
/// with these statuses (None: all).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CustomerTasksKey {
    pub customer_id: i64,
    pub statuses: Option<Vec<String>>,
    pub first: i64,
}

/// The first page of a customer's calls.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerCallsKey {
    pub customer_id: i64,
    pub first: i64,
}

pub struct DbLoader {
    db: Db,
    company_id: Uuid,
}

/// Shared per request (batched requests clone their data). Cached for the request only, so a
/// key asked for again in a later resolution round is not loaded twice.
pub type Loaders = Arc<DataLoader<DbLoader, HashMapCache>>;

/// How long a loader gathers keys before it queries. Resolving the fields of a 500-node page
/// takes a few milliseconds on a busy worker while the batch timer runs on another, so
/// async-graphql's 1 ms default splits such a page into several queries.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

pub fn loaders(db: Db, company_id: Uuid) -> Loaders {
    Arc::new(
        // A loader runs on a task of its own: its calls are counted in the company's share here.
        DataLoader::with_cache(
            DbLoader { db: db.for_company(company_id), company_id },
            tokio::spawn,
            HashMapCache::default(),
        )
        .delay(GATHER),
    )
}

/// Loaders for a long-lived WebSocket connection: they batch like a request's, but keep no
/// cache, so an event never shows a customer or schedule as it was minutes ago and memory does
/// not grow with the connection's age.
pub fn uncached_loaders(db: Db, company_id: Uuid) -> Loaders {
    let loaders = loaders(db, company_id);
    loaders.enable_all_cache(false);
    loaders
}

impl Loader<CustomerKey> for DbLoader {
    type Value = CustomerRow;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[CustomerKey]) -> Result<HashMap<CustomerKey, CustomerRow>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let company_id = self.company_id;
        let rows =
            self.db.read(move |conn| customers::by_ids(conn, company_id, &ids)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (CustomerKey(r.id), r)).collect())
    }
}

impl Loader<ScheduleKey> for DbLoader {
    type Value = ScheduleRow;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[ScheduleKey]) -> Result<HashMap<ScheduleKey, ScheduleRow>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let company_id = self.company_id;
        let rows =
            self.db.read(move |conn| schedules::by_ids(conn, company_id, &ids)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (ScheduleKey(r.id), r)).collect())
    }
}

impl Loader<PendingTasksKey> for DbLoader {
    type Value = i64;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[PendingTasksKey]) -> Result<HashMap<PendingTasksKey, i64>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let company_id = self.company_id;
        let counts = self
            .db
            .read(move |conn| tasks::pending_counts(conn, company_id, &ids))
            .await
            .map_err(Arc::new)?;
        Ok(counts.into_iter().map(|(id, n)| (PendingTasksKey(id), n)).collect())
    }
}

impl Loader<TaskKey> for DbLoader {
    type Value = TaskRow;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, TaskRow>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let company_id = self.company_id;
        let rows = self.db.read(move |conn| tasks::by_ids(conn, company_id, &ids)).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (TaskKey(r.id), r)).collect())
    }
}

impl Loader<CallOfTaskKey> for DbLoader {
    type Value = CallRow;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[CallOfTaskKey]) -> Result<HashMap<CallOfTaskKey, CallRow>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let company_id = self.company_id;
        let rows = self
            .db
            .read(move |conn| calls::latest_for_tasks(conn, company_id, &ids))
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().filter_map(|r| r.task_id.map(|t| (CallOfTaskKey(t), r))).collect())
    }
}

impl Loader<LoansKey> for DbLoader {
    type Value = Vec<crate::store::loans::LoanRow>;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[LoansKey]) -> Result<HashMap<LoansKey, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let company_id = self.company_id;
        let rows = self
            .db
            .read(move |conn| crate::store::loans::for_customers(conn, company_id, &ids))
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<LoansKey, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for (customer_id, loan) in rows {
            out.entry(LoansKey(customer_id)).or_default().push(loan);
        }
        Ok(out)
    }
}

impl Loader<CustomerTasksKey> for DbLoader {
    type Value = Vec<TaskRow>;
    type Error = Arc<StoreError>;

    /// One query per (statuses, first) among the keys: a list of customers' first pages.
    async fn load(
        &self,
        keys: &[CustomerTasksKey],
    ) -> Result<HashMap<CustomerTasksKey, Vec<TaskRow>>, Self::Error> {
        let mut groups: HashMap<(Option<Vec<String>>, i64), Vec<i64>> = HashMap::new();
        for key in keys {
            groups.entry((key.statuses.clone(), key.first)).or_default().push(key.customer_id);
        }
        let mut out: HashMap<CustomerTasksKey, Vec<TaskRow>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for ((statuses, first), ids) in groups {
            let company_id = self.company_id;
            let wanted = statuses.clone();
            let rows = self
                .db
                .read(move |conn| tasks::first_pages(conn, company_id, &ids, wanted.as_deref(), first))
                .await
                .map_err(Arc::new)?;
            for row in rows {
                let key =
                    CustomerTasksKey { customer_id: row.customer_id, statuses: statuses.clone(), first };
                out.entry(key).or_default().push(row);
            }
        }
        Ok(out)
    }
}

impl Loader<CustomerCallsKey> for DbLoader {
    type Value = Vec<CallRow>;
    type Error = Arc<StoreError>;

    async fn load(
        &self,
        keys: &[CustomerCallsKey],
    ) -> Result<HashMap<CustomerCallsKey, Vec<CallRow>>, Self::Error> {
        let mut groups: HashMap<i64, Vec<i64>> = HashMap::new();
        for key in keys {
            groups.entry(key.first).or_default().push(key.customer_id);
        }
        let mut out: HashMap<CustomerCallsKey, Vec<CallRow>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for (first, ids) in groups {
            let company_id = self.company_id;
            let rows = self
                .db
                .read(move |conn| calls::first_pages(conn, company_id, &ids, first))
                .await
                .map_err(Arc::new)?;
            for row in rows {
                if let Some(customer_id) = row.customer_id {
                    out.entry(CustomerCallsKey { customer_id, first }).or_default().push(row);
                }
            }
        }
        Ok(out)
    }
}
