//! Import and export pages: upload a resident file and watch it land; download a
//! subtree's residents.

pub mod handovers;
pub mod pages;
pub mod partners;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiceng_store::exchange::ImportReport;

/// Creates `dir` readable by this user only.
pub(crate) fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
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
    /// Where uploaded files and their error files are kept: 0700, files 0600.
    pub dir: PathBuf,
    /// How long an error file is kept after its import.
    pub error_file_ttl: std::time::Duration,
}

impl ImportJobs {
    /// Makes the private folder (0700) and removes what an earlier run left there.
    pub fn new(dir: PathBuf, error_file_ttl: std::time::Duration) -> std::io::Result<ImportJobs> {
        private_dir(&dir)?;
        let jobs = ImportJobs { jobs: Arc::default(), dir, error_file_ttl };
        // Uploads of a server that stopped mid-import, and error files nobody can reach
        // any more (the jobs that linked them were in memory).
        for entry in std::fs::read_dir(&jobs.dir)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(jobs)
    }

    /// Deletes error files older than the time they are kept for; their jobs then say
    /// the file has expired.
    pub fn expire(&self) {
        let now = time::OffsetDateTime::now_utc();
        let mut jobs = self.lock();
        for job in jobs.values_mut() {
            let age = now - job.started_at;
            if age.unsigned_abs() < self.error_file_ttl {
                continue;
            }
            if let JobState::Done(report) = &mut job.state
                && let Some(path) = report.error_file.take()
            {
                let _ = std::fs::remove_file(path);
            }
        }
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
    /// How many imports are running and how many have ended (`/metrics`).
    pub fn counts(&self) -> (usize, usize) {
        let jobs = self.lock();
        let running = jobs.values().filter(|j| matches!(j.state, JobState::Running { .. })).count();
        (running, jobs.len() - running)
    }

    pub fn of(&self, owner: &str) -> Vec<ImportJob> {
        let mut jobs: Vec<ImportJob> = self.lock().values().filter(|j| j.owner == owner).cloned().collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at));
        jobs
    }
}

/// Resident files: uploads and their progress and error files, exports.
pub fn routes() -> crate::Routes {
    use axum::routing::get;
    vec![
        (
            "/imports",
            get(pages::imports).post(pages::upload).layer(axum::extract::DefaultBodyLimit::max(pages::UPLOAD_LIMIT)),
        ),
        ("/imports/{id}", get(pages::job)),
        ("/imports/{id}/errors", get(pages::error_file)),
        ("/regions/{code}/export", get(pages::export)),
        ("/exchange", get(partners::partners)),
        ("/exchange/partners", axum::routing::post(partners::add_partner)),
        ("/exchange/partners/{county}/{partner}/export", axum::routing::post(partners::export)),
        ("/exchange/partners/{county}/{partner}/acknowledge", axum::routing::post(partners::acknowledge)),
        ("/exchange/partners/{county}/{partner}/reconciliation", get(partners::reconciliation)),
        ("/handovers", get(handovers::list).post(handovers::propose)),
        ("/handovers/new/buildings/{county}/{id}", get(handovers::new_building)),
        ("/handovers/new/grids/{county}/{id}", get(handovers::new_grid)),
        ("/handovers/{county}/{id}/decide", axum::routing::post(handovers::decide)),
        ("/handovers/{county}/{id}/withdraw", axum::routing::post(handovers::withdraw)),
        ("/handovers/{county}/{id}/resume", axum::routing::post(handovers::resume)),
        (
            "/exchange/packages",
            axum::routing::post(partners::upload).layer(axum::extract::DefaultBodyLimit::max(partners::UPLOAD_LIMIT)),
        ),
    ]
}

#[cfg(test)]
mod partner_tests;
#[cfg(test)]
mod tests;
