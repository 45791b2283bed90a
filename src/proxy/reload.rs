//! Hot reload of the policy and the GeoIP database, that never loads a file its writer
//! has not finished.
//!
//! Triggers: SIGHUP, the directories holding the files (watched, not the files:
//! Kubernetes ConfigMaps swap a `..data` symlink and never touch the file's own name),
//! and a periodic poll as a backstop. Whatever the trigger, a version is loaded only
//! once it has *settled*:
//!
//! - the watcher saw no write to the file that its writer has not closed yet (a file
//!   written in place is modified, then closed: the close is the signal, each
//!   modification is not);
//! - the file was last modified at least the settle time ago (`server.reload_settle_ms`,
//!   2 s by default), so a writer that pauses mid-file is waited for even where no
//!   watcher runs;
//! - two reads, the symlink target resolved once for each, are byte-identical.
//!
//! The bytes loaded are the bytes read: validated fully and the GeoIP database opened
//! before either is swapped in, atomically, with `arc-swap` (requests in flight finish
//! on what they started with). One reload per change, however many triggers saw it.
//! Anything invalid keeps the old pair, is logged with its line:column once, and counted.
//! Every reload logs what changed by name ([`crate::policy::diff`]); a change that weakens
//! the policy is logged at warn and counted in `customs_policy_weakened_total`, and a
//! setting read only at start is named in a warning.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::pipeline::{Runtime, Shared};
use crate::cli::geoip_path;
use crate::geo::{GeoLookup, MaxMindGeo};
use crate::policy::diff;

/// Settings given on the command line that a reload must keep.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub geoip: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    /// How long a file must stay unchanged before it is loaded (else the policy's
    /// `server.reload_settle_ms`).
    pub reload_settle: Option<Duration>,
}

/// How long a write the watcher saw, but whose close it did not, keeps a file from
/// loading: a writer that died is closed by the kernel (which the watcher sees), so this
/// only covers a lost event.
const WRITER_GRACE: Duration = Duration::from_secs(60);

/// How many times a file that keeps changing under a reload is read before the reload
/// gives up (the next trigger tries again).
const SETTLE_ATTEMPTS: usize = 20;

/// Validates and compiles `source` (the policy file's bytes as read) and opens its GeoIP
/// database. The error is the rendered diagnostics (with line:column) or the I/O failure.
pub fn load_runtime_from(
    config: &Path,
    source: &str,
    o: &Overrides,
) -> Result<(Runtime, PathBuf), String> {
    let mut policy = crate::policy::load(source)
        .map(|(p, _)| p)
        .map_err(|diags| {
            crate::policy::diag::render(&config.display().to_string(), source, &diags)
        })?;
    if let Some(n) = o.max_body_bytes {
        policy.server.max_body_bytes = n;
    }
    let db = geoip_path(o.geoip.as_deref(), &policy, config);
    let geo = MaxMindGeo::open(&db).map_err(|e| e.to_string())?;
    let geo: Arc<dyn GeoLookup> = Arc::new(geo);
    Ok((Runtime { policy, geo }, db))
}

/// Reads the policy file and loads it (as [`load_runtime_from`]).
pub fn load_runtime(config: &Path, o: &Overrides) -> Result<(Runtime, PathBuf), String> {
    let source = std::fs::read_to_string(config)
        .map_err(|e| format!("cannot read policy `{}`: {e}", config.display()))?;
    load_runtime_from(config, &source, o)
}

/// What one reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new version was loaded and is in force.
    Loaded,
    /// The files are what is loaded (or what last failed to load): nothing to do.
    Unchanged,
    /// The policy file is still being written (or kept changing while read): not loaded;
    /// the close of its writer, or the next poll, tries again.
    Unsettled,
    /// The new version is invalid, or a file could not be read: the old one stays.
    Failed,
}

pub struct Reloader {
    config: PathBuf,
    overrides: Overrides,
    shared: Arc<Shared>,
    geoip: Mutex<PathBuf>,
    /// The fingerprint of what is loaded, and of what last failed to load (so that a bad
    /// version is reported once, not at every trigger).
    last: Mutex<Option<String>>,
    failed: Mutex<Option<String>>,
    /// The last I/O error reported (reported again only when it changes, or once a minute).
    last_error: Mutex<Option<(String, Instant)>>,
    tls: Mutex<Option<Arc<super::tls::ServerTls>>>,
    /// Files the watcher saw written and not yet closed, and when.
    writing: Arc<Mutex<HashMap<PathBuf, Instant>>>,
    /// One reload at a time: triggers that arrive together are loaded once.
    busy: Mutex<()>,
}

impl Reloader {
    pub fn new(
        config: PathBuf,
        overrides: Overrides,
        shared: Arc<Shared>,
        geoip: PathBuf,
    ) -> Arc<Self> {
        // Nothing is known to be loaded until [`Reloader::loaded`] says what.
        Arc::new(Reloader {
            config,
            overrides,
            shared,
            geoip: Mutex::new(geoip),
            last: Mutex::new(None),
            failed: Mutex::new(None),
            last_error: Mutex::new(None),
            tls: Mutex::new(None),
            writing: Arc::new(Mutex::new(HashMap::new())),
            busy: Mutex::new(()),
        })
    }

    /// How long a file must stay unchanged before it is loaded.
    fn settle(&self) -> Duration {
        self.overrides
            .reload_settle
            .unwrap_or_else(|| self.shared.runtime.load().policy.server.reload_settle)
    }

    fn fingerprint_of(&self, policy: &[u8]) -> Option<String> {
        let db = self.geoip.lock().ok()?.clone();
        let meta = std::fs::metadata(&db).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos();
        let mut h = Sha256::new();
        h.update(policy);
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
        Some(
            h.finalize()
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }

    /// Records that `source` is the policy text in use (read at start-up), so that a
    /// change made between that read and the first poll is still seen as a change.
    pub fn loaded(&self, source: &str) {
        let fp = self.fingerprint_of(source.as_bytes());
        if let Ok(mut l) = self.last.lock() {
            *l = fp;
        }
    }

    /// Also reload the listener's TLS certificate and key when they change.
    pub fn set_tls(&self, tls: Arc<super::tls::ServerTls>) {
        if let Ok(mut t) = self.tls.lock() {
            *t = Some(tls);
        }
    }

    fn reload_tls(&self, trigger: &str) {
        let Some(tls) = self.tls.lock().ok().and_then(|t| t.clone()) else {
            return;
        };
        match tls.reload_if_changed() {
            Ok(true) => {
                self.shared
                    .metrics
                    .reloads
                    .with_label_values(&["success"])
                    .inc();
                tracing::info!(target: "customs::reload", trigger, "reloaded the listener's TLS certificate");
            }
            Ok(false) => {}
            Err(e) => {
                self.shared
                    .metrics
                    .reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(target: "customs::reload", trigger, error = %e, "TLS certificate reload failed: keeping the one in use");
            }
        }
    }

    /// Reloads if either file changed since the last load and the policy file has
    /// settled; `true` when a new version is now in force.
    pub fn reload(&self, trigger: &str) -> bool {
        self.reload_outcome(trigger) == ReloadOutcome::Loaded
    }

    /// As [`Reloader::reload`], saying what happened.
    pub fn reload_outcome(&self, trigger: &str) -> ReloadOutcome {
        // Triggers that arrive together (a watch event and a SIGHUP for one change) wait
        // here, then find the change loaded.
        let _one = self.busy.lock();
        self.reload_tls(trigger);
        let settled = match self.read_settled() {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::info!(target: "customs::reload", trigger, "policy file is still being written: not loaded yet");
                return ReloadOutcome::Unsettled;
            }
            Err(e) => {
                self.io_error(trigger, &e);
                return ReloadOutcome::Failed;
            }
        };
        let Some(fp) = self.fingerprint_of(&settled) else {
            let db = self.geoip.lock().map(|g| g.clone()).unwrap_or_default();
            self.io_error(
                trigger,
                &format!("cannot read GeoIP database `{}`", db.display()),
            );
            return ReloadOutcome::Failed;
        };
        let same = |m: &Mutex<Option<String>>| m.lock().is_ok_and(|l| l.as_deref() == Some(&fp));
        if same(&self.last) || same(&self.failed) {
            return ReloadOutcome::Unchanged;
        }
        self.load(trigger, &settled, fp)
    }

    fn load(&self, trigger: &str, settled: &[u8], fp: String) -> ReloadOutcome {
        let m = &self.shared.metrics;
        let source = match std::str::from_utf8(settled) {
            Ok(s) => s,
            Err(_) => {
                m.reloads.with_label_values(&["error"]).inc();
                self.remember_failure(fp);
                tracing::error!(target: "customs::reload", trigger, "reload failed: the policy file is not UTF-8 text; keeping the policy in use");
                return ReloadOutcome::Failed;
            }
        };
        match load_runtime_from(&self.config, source, &self.overrides) {
            Ok((rt, db)) => {
                let old = self.shared.runtime.load_full();
                let changes = diff::diff(&old.policy, &rt.policy);
                let hash = rt.policy.hash.clone();
                let build = rt.geo.build_epoch();
                m.init_for(&rt.policy);
                self.shared
                    .budget
                    .set_capacity(rt.policy.admission.memory_budget);
                self.shared.runtime.store(Arc::new(rt));
                m.policy_info.reset();
                m.policy_info.with_label_values(&[&hash]).set(1);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                m.policy_loaded_at.set(now);
                if let Some(b) = build {
                    m.geoip_build_time.set(b as i64);
                }
                m.reloads.with_label_values(&["success"]).inc();
                if let Ok(mut g) = self.geoip.lock() {
                    *g = db;
                }
                if let Ok(mut l) = self.last.lock() {
                    *l = Some(fp);
                }
                if let Ok(mut f) = self.failed.lock() {
                    *f = None;
                }
                report_changes(m, trigger, &hash, &changes);
                ReloadOutcome::Loaded
            }
            Err(e) => {
                m.reloads.with_label_values(&["error"]).inc();
                // Remember the bad version so a poll does not retry it every tick.
                self.remember_failure(fp);
                tracing::error!(target: "customs::reload", trigger, error = %e, "reload failed: keeping the policy and database in use");
                ReloadOutcome::Failed
            }
        }
    }

    fn remember_failure(&self, fp: String) {
        if let Ok(mut f) = self.failed.lock() {
            *f = Some(fp);
        }
    }

    /// A file that could not be read (out of file descriptors, say): counted each time,
    /// logged when the error is new or once a minute, so a bad spell is not a flood.
    fn io_error(&self, trigger: &str, e: &str) {
        self.shared
            .metrics
            .reloads
            .with_label_values(&["error"])
            .inc();
        let Ok(mut last) = self.last_error.lock() else {
            return;
        };
        let repeat = last
            .as_ref()
            .is_some_and(|(m, at)| m == e && at.elapsed() < Duration::from_secs(60));
        if !repeat {
            tracing::error!(target: "customs::reload", trigger, error = %e, "reload failed: keeping the policy and database in use");
            *last = Some((e.to_string(), Instant::now()));
        }
    }

    /// Whether the watcher saw the policy file written and not closed since.
    fn being_written(&self) -> bool {
        let Ok(mut w) = self.writing.lock() else {
            return false;
        };
        w.retain(|_, at| at.elapsed() < WRITER_GRACE);
        let names = tracked_names(&self.config);
        w.keys().any(|p| names.contains(p))
    }

    /// The policy file's bytes once it has settled (see the module doc); `None` while it
    /// is still being written.
    fn read_settled(&self) -> Result<Option<Vec<u8>>, String> {
        let settle = self.settle();
        // The second read follows the first closely: the age check already waited for
        // the writer; this one catches a write between the check and the read.
        let gap = settle.min(Duration::from_millis(50));
        for _ in 0..SETTLE_ATTEMPTS {
            if self.being_written() {
                return Ok(None);
            }
            let (first, age) = read_once(&self.config)?;
            if age < settle {
                std::thread::sleep(settle - age);
                continue;
            }
            std::thread::sleep(gap);
            if self.being_written() {
                return Ok(None);
            }
            let (second, _) = read_once(&self.config)?;
            if first.bytes == second.bytes && first.target == second.target {
                return Ok(Some(second.bytes));
            }
        }
        Ok(None)
    }

    /// Runs the triggers until `shutdown` resolves: SIGHUP, directory watch, poll.
    pub async fn run(
        self: Arc<Self>,
        poll: Option<Duration>,
        watch: bool,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let _watcher = if watch { self.watch(tx) } else { None };
        // Ready once the triggers are in place: a change from now on is not missed.
        self.shared
            .ready
            .store(true, std::sync::atomic::Ordering::SeqCst);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = poll.map(|p| {
            let mut i = tokio::time::interval(p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        tokio::pin!(shutdown);
        loop {
            #[cfg(unix)]
            let hup_fut = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup_fut = std::future::pending::<()>();
            let tick_fut = async {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let trigger = tokio::select! {
                _ = &mut shutdown => return,
                _ = hup_fut => "sighup",
                Some(()) = rx.recv() => {
                    // Let a burst of events (a ConfigMap swap is several) settle.
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    while rx.try_recv().is_ok() {}
                    "watch"
                }
                _ = tick_fut => "poll",
            };
            let s = self.clone();
            let _ = tokio::task::spawn_blocking(move || s.reload_outcome(trigger)).await;
            // Triggers that arrived while that reload read and loaded are for the same
            // change, or will be seen by the next one: not queued up behind it.
            while rx.try_recv().is_ok() {}
        }
    }

    fn watch(
        &self,
        tx: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::{RecursiveMode, Watcher};
        let writing = self.writing.clone();
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev
                && triggers(&ev, &writing)
            {
                let _ = tx.send(());
            }
        })
        .map_err(|e| tracing::warn!(target: "customs::reload", error = %e, "cannot watch files; relying on SIGHUP and polling"))
        .ok()?;
        let mut dirs: Vec<PathBuf> = vec![parent(&self.config)];
        if let Ok(g) = self.geoip.lock() {
            dirs.push(parent(&g));
        }
        if let Some(t) = self.tls.lock().ok().and_then(|t| t.clone()) {
            let (c, k) = t.paths();
            dirs.push(parent(c));
            dirs.push(parent(k));
        }
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            if let Err(e) = w.watch(&d, RecursiveMode::NonRecursive) {
                tracing::warn!(target: "customs::reload", dir = %d.display(), error = %e, "cannot watch directory");
            }
        }
        Some(w)
    }
}

/// Whether a watch event calls for a reload: the end of a write (its close), a rename, a
/// creation or a removal do. A write in progress does not (it is noted, so that no
/// trigger loads the file before its writer closes it), nor do opens and reads (customs'
/// own reads among them).
fn triggers(ev: &notify::Event, writing: &Mutex<HashMap<PathBuf, Instant>>) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    let paths = ev.paths.iter().map(|p| absolute(p));
    match ev.kind {
        EventKind::Modify(ModifyKind::Data(_)) => {
            if let Ok(mut w) = writing.lock() {
                for p in paths {
                    w.insert(p, Instant::now());
                }
            }
            false
        }
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            if let Ok(mut w) = writing.lock() {
                for p in paths {
                    w.remove(&p);
                }
            }
            true
        }
        EventKind::Access(_) => false,
        EventKind::Remove(_) => {
            // A file removed is no longer being written.
            if let Ok(mut w) = writing.lock() {
                for p in paths {
                    w.remove(&p);
                }
            }
            true
        }
        _ => true,
    }
}

/// One read of the policy file: the symlink target is resolved once, and the bytes and
/// the modification time are both that target's.
struct Read {
    target: PathBuf,
    bytes: Vec<u8>,
}

fn read_once(config: &Path) -> Result<(Read, Duration), String> {
    let cannot = |e: std::io::Error| format!("cannot read policy `{}`: {e}", config.display());
    let target = std::fs::canonicalize(config).map_err(cannot)?;
    let bytes = std::fs::read(&target).map_err(cannot)?;
    let modified = std::fs::metadata(&target)
        .and_then(|m| m.modified())
        .map_err(cannot)?;
    // A modification time in the future (clock skew) counts as just now.
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or(Duration::ZERO);
    Ok((Read { target, bytes }, age))
}

/// The names under which the watcher may report writes to the policy file: the path as
/// given and the file it resolves to, both absolute.
fn tracked_names(config: &Path) -> Vec<PathBuf> {
    let mut v = vec![absolute(config)];
    if let Ok(c) = std::fs::canonicalize(config) {
        v.push(c);
    }
    v
}

/// `p` made absolute without resolving its last component (a symlink stays itself).
fn absolute(p: &Path) -> PathBuf {
    let dir = parent(p);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    match p.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Logs what a reload changed: a summary at info, each weakening at warn (and counted),
/// each start-only setting at warn.
fn report_changes(
    m: &crate::metrics::Metrics,
    trigger: &str,
    hash: &str,
    changes: &[diff::Change],
) {
    let weakened = diff::weakenings(changes);
    let summary: Vec<String> = changes.iter().map(ToString::to_string).collect();
    tracing::info!(target: "customs::reload", trigger, policy_hash = %hash, changes = changes.len(), weakening = weakened.len(), summary = %summary.join("; "), "reloaded policy and GeoIP database");
    for c in changes {
        if let Some(w) = c.weakens {
            m.policy_weakened.with_label_values(&[w.as_str()]).inc();
            tracing::warn!(target: "customs::reload", change = %c, weakening = w.as_str(), "the reloaded policy is weaker than the one it replaced");
        }
        if c.start_only {
            tracing::warn!(target: "customs::reload", setting = %c.name, change = %c, "a setting read only at start changed: restart customs to apply it");
        }
    }
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
