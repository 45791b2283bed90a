//! Hot reload of the policy and the GeoIP database: on SIGHUP, on a change in the
//! directories holding them (watched, not the files: Kubernetes ConfigMaps swap a
//! `..data` symlink and never touch the file's own name), and on a periodic poll that
//! compares fingerprints as a backstop. A new policy is validated fully and a new
//! database opened before either is swapped in, atomically, with `arc-swap`: requests in
//! flight finish on what they started with. Anything invalid keeps the old pair, is
//! logged with its line:column, and counted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::pipeline::{Runtime, Shared};
use crate::cli::{LoadError, geoip_path, load_policy};
use crate::geo::{GeoLookup, MaxMindGeo};

/// Settings given on the command line that a reload must keep.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub geoip: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
}

/// Reads, validates and compiles the policy and opens its GeoIP database. The error is
/// the rendered diagnostics (with line:column) or the I/O failure.
pub fn load_runtime(config: &Path, o: &Overrides) -> Result<(Runtime, PathBuf), String> {
    let loaded = load_policy(config).map_err(|e| match e {
        LoadError::Io(m) => m,
        LoadError::Invalid { source, diags } => {
            crate::policy::diag::render(&config.display().to_string(), &source, &diags)
        }
    })?;
    let mut policy = loaded.policy;
    if let Some(n) = o.max_body_bytes {
        policy.server.max_body_bytes = n;
    }
    let db = geoip_path(o.geoip.as_deref(), &policy, config);
    let geo = MaxMindGeo::open(&db).map_err(|e| e.to_string())?;
    let geo: Arc<dyn GeoLookup> = Arc::new(geo);
    Ok((Runtime { policy, geo }, db))
}

pub struct Reloader {
    config: PathBuf,
    overrides: Overrides,
    shared: Arc<Shared>,
    geoip: Mutex<PathBuf>,
    last: Mutex<Option<String>>,
    tls: Mutex<Option<Arc<super::tls::ServerTls>>>,
}

impl Reloader {
    pub fn new(
        config: PathBuf,
        overrides: Overrides,
        shared: Arc<Shared>,
        geoip: PathBuf,
    ) -> Arc<Self> {
        let r = Arc::new(Reloader {
            config,
            overrides,
            shared,
            geoip: Mutex::new(geoip),
            last: Mutex::new(None),
            tls: Mutex::new(None),
        });
        let fp = r.fingerprint();
        if let Ok(mut l) = r.last.lock() {
            *l = fp;
        }
        r
    }

    /// A digest of the policy file's bytes and the database file's size and mtime.
    fn fingerprint(&self) -> Option<String> {
        let policy = std::fs::read(&self.config).ok()?;
        self.fingerprint_of(&policy)
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

    /// Reloads if either file changed since the last load.
    pub fn reload_if_changed(&self, trigger: &str) -> bool {
        self.reload_tls(trigger);
        let fp = self.fingerprint();
        let same = self
            .last
            .lock()
            .map(|l| fp.is_some() && *l == fp)
            .unwrap_or(false);
        if same { false } else { self.reload(trigger) }
    }

    /// Loads both files and swaps them in; keeps the old ones on any error.
    pub fn reload(&self, trigger: &str) -> bool {
        self.reload_tls(trigger);
        let fp = self.fingerprint();
        let m = &self.shared.metrics;
        match load_runtime(&self.config, &self.overrides) {
            Ok((rt, db)) => {
                let hash = rt.policy.hash.clone();
                let build = rt.geo.build_epoch();
                m.init_for(&rt.policy);
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
                    *l = fp;
                }
                tracing::info!(target: "customs::reload", trigger, policy_hash = %hash, "reloaded policy and GeoIP database");
                true
            }
            Err(e) => {
                m.reloads.with_label_values(&["error"]).inc();
                // Remember the bad version so a poll does not retry it every tick.
                if let Ok(mut l) = self.last.lock() {
                    *l = fp;
                }
                tracing::error!(target: "customs::reload", trigger, error = %e, "reload failed: keeping the policy and database in use");
                false
            }
        }
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
            tokio::select! {
                _ = &mut shutdown => return,
                _ = hup_fut => { let s = self.clone(); let _ = tokio::task::spawn_blocking(move || s.reload("sighup")).await; }
                Some(()) = rx.recv() => {
                    // Let a burst of events (a ConfigMap swap is several) settle.
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    while rx.try_recv().is_ok() {}
                    let s = self.clone();
                    let _ = tokio::task::spawn_blocking(move || s.reload_if_changed("watch")).await;
                }
                _ = tick_fut => { let s = self.clone(); let _ = tokio::task::spawn_blocking(move || s.reload_if_changed("poll")).await; }
            }
        }
    }

    fn watch(
        &self,
        tx: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::{RecursiveMode, Watcher};
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.is_ok() {
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

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
