//! Counts over the jobs for monitoring (`/metrics`).

use super::{Db, DbError};

impl Db {
    /// How many jobs there are of each status.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
                .fetch_all(self.readers())
                .await?,
        )
    }

    /// Each Proxmox endpoint's name and when its last completed sync ended (ms).
    pub async fn last_completed_sync_by_endpoint(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT e.name, MAX(j.finished_at) FROM proxmox_endpoints e \
             JOIN job_endpoints je ON je.endpoint_id = e.id \
             JOIN jobs j ON j.id = je.job_id \
             WHERE j.status = 'completed' AND j.finished_at IS NOT NULL \
             GROUP BY e.name ORDER BY e.name",
        )
        .fetch_all(self.readers())
        .await?)
    }
}
