//! A run's page writes, on a thread of its own.
//!
//! The sync engine encodes pages on the fetching side and queues them here;
//! one thread writes them to RocksDB in the order they were queued. After a
//! failed write it writes nothing more: the pages queued behind it were
//! encoded from a state that never landed.
//!
//! A thread per run rather than `spawn_blocking` per page: handing each page
//! to Tokio's blocking pool kept the fetching side off the CPU for about
//! 240 µs per page on a 2-vCPU VM (the pool's shared lock and wake-ups),
//! a fifth of an ingest's time.

use std::sync::Arc;
use std::sync::mpsc;
use switchyard_store::model::{Run, SyncState};
use switchyard_store::{PreparedPage, Store, StoreError};
use tokio::sync::oneshot;

/// What became of a queued page.
#[derive(Debug)]
pub(crate) enum Written {
    /// It landed; the model's state and the run as written.
    Landed(Box<(SyncState, Run)>),
    /// Its write failed; nothing of it landed.
    Failed(StoreError),
    /// Not attempted: a page queued before it failed.
    Skipped,
}

struct Job {
    page: PreparedPage,
    run: Run,
    done: oneshot::Sender<Written>,
}

/// Writes one run's pages in order on its own thread.
pub(crate) struct PageWriter {
    jobs: mpsc::Sender<Job>,
}

impl PageWriter {
    /// Starts the writing thread. It ends once the writer is dropped and the
    /// pages queued before that are written.
    pub(crate) fn start(store: Arc<Store>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("switchyard-writer".into())
            .spawn(move || {
                let mut failed = false;
                for job in queue {
                    let written = if failed {
                        Written::Skipped
                    } else {
                        match store.write_page(job.page) {
                            Ok(state) => Written::Landed(Box::new((state, job.run))),
                            Err(error) => {
                                failed = true;
                                Written::Failed(error)
                            }
                        }
                    };
                    // The run may have stopped waiting (it was cancelled).
                    let _ = job.done.send(written);
                }
            })?;
        Ok(PageWriter { jobs })
    }

    /// Queues `page`, with the run as it stands once the page lands; the
    /// receiver tells what became of it.
    pub(crate) fn write(&self, page: PreparedPage, run: Run) -> oneshot::Receiver<Written> {
        let (done, outcome) = oneshot::channel();
        // If the thread is gone, `done` is dropped with the job and the
        // receiver reports that.
        let _ = self.jobs.send(Job { page, run, done });
        outcome
    }
}
