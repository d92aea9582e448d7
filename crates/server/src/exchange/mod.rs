//! Import and export pages: upload a resident file and watch it land; download a
//! subtree's residents.

pub mod pages;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiceng_store::exchange::ImportReport;
use uuid::Uuid;

/// Where an upload stands.
#[derive(Debug, Clone)]
pub enum JobState {
    Running { rows: u64, fraction: f64 },
    Done(ImportReport),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: Uuid,
    /// The user who uploaded it: only they see it.
    pub owner: String,
    pub file_name: String,
    pub started_at: time::OffsetDateTime,
    pub state: JobState,
}

/// The imports this server has run since it started (uploads are short-lived work, not
/// records; what they changed is in the registry and the audit log).
#[derive(Clone, Default)]
pub struct ImportJobs {
    jobs: Arc<Mutex<HashMap<Uuid, ImportJob>>>,
    /// Where uploaded files and their error files are kept.
    pub dir: PathBuf,
}

impl ImportJobs {
    pub fn new(dir: PathBuf) -> ImportJobs {
        ImportJobs { jobs: Arc::default(), dir }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ImportJob>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, job: ImportJob) {
        self.lock().insert(job.id, job);
    }

    pub fn set_state(&self, id: Uuid, state: JobState) {
        if let Some(job) = self.lock().get_mut(&id) {
            job.state = state;
        }
    }

    /// The job, if `owner` uploaded it.
    pub fn get(&self, id: Uuid, owner: &str) -> Option<ImportJob> {
        self.lock().get(&id).filter(|j| j.owner == owner).cloned()
    }

    /// The owner's jobs, newest first.
    pub fn of(&self, owner: &str) -> Vec<ImportJob> {
        let mut jobs: Vec<ImportJob> = self.lock().values().filter(|j| j.owner == owner).cloned().collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at));
        jobs
    }
}
