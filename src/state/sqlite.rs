//! The embedded state store: one SQLite file (default `.tenantry/state.db` in the manifest
//! directory), WAL journal, durable writes, schema migrations by `user_version`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction (SQLite's write lock, across processes);
//! a fenced handle first checks there that its lock row still exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::store::{
    Acquired, AppliedPlan, HistoryEntry, LockInfo, LockScope, NewTask, StateError, StateResult, StateStore, TakenOver,
};
use super::{Binding, Intent, StateSnapshot, TaskRecord, TaskStatus, task_number};
use crate::core::{NaturalKey, ObjectKey, Verify};
use crate::model::ManifestRef;

/// Schema migrations, applied in order; `user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE bindings (
        key TEXT PRIMARY KEY,
        vendor_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        applied TEXT NOT NULL
    );
    CREATE TABLE intents (
        key TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        natural_key TEXT NOT NULL,
        started_at TEXT NOT NULL,
        detail TEXT
    );
    CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        task TEXT NOT NULL,
        vendor TEXT NOT NULL,
        page TEXT NOT NULL,
        title TEXT NOT NULL,
        target TEXT,
        task_values TEXT NOT NULL,
        verify TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,
        delivered TEXT
    );
    CREATE TABLE lock (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        id TEXT NOT NULL,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        run TEXT NOT NULL,
        action TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        result TEXT NOT NULL,
        vendor_id TEXT,
        message TEXT,
        git_commit TEXT
    );
    CREATE INDEX history_owner ON history (owner, seq);",
    // 2: the saved plans applied, so that one is never applied twice.
    "CREATE TABLE applied_plans (
        id TEXT PRIMARY KEY,
        applied_at TEXT NOT NULL,
        run TEXT NOT NULL
    );",
    // 3: what a portal task's doer must know first (the step may already be done).
    "ALTER TABLE tasks ADD COLUMN note TEXT;",
    // 4: locks per owner: any number of rows, each with its scope (`*`, everything, or a JSON
    // list of owners). The singleton lock of before becomes a lock on everything.
    "CREATE TABLE locks (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        scope TEXT NOT NULL
    );
    INSERT INTO locks (id, owner, host, pid, command, started_at, expires_at, scope)
        SELECT id, owner, host, pid, command, started_at, expires_at, '*' FROM lock;
    DROP TABLE lock;",
    // 5: per owner, the declaration last reconciled in full (its fingerprint): what tells a
    // manifest change (to apply) from drift at the vendor (reported or corrected, by policy).
    "CREATE TABLE reconciled (
        owner TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        at TEXT NOT NULL
    );",
];

/// The schema version from which locks live in `locks` (before, in the singleton `lock`).
const LOCKS_TABLE_SINCE: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    /// Shared by the handles [`StateStore::fenced`] makes.
    conn: Arc<Mutex<Connection>>,
    /// The lock this handle's writes need.
    fence: Option<String>,
}

impl SqliteStore {
    /// Open (creating the file and its directory if needed) and migrate.
    pub fn open(path: &Path) -> StateResult<Self> {
        let location = path.display().to_string();
        let err = |message: String| StateError::Store { location: location.clone(), message };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| err(e.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| err(e.to_string()))?;
        let store = SqliteStore { path: path.to_path_buf(), conn: Arc::new(Mutex::new(conn)), fence: None };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Store { location: self.path.display().to_string(), message: e.to_string() }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bring the schema up to date. A migration is global: each runs in an IMMEDIATE
    /// transaction that reads the version again (so two processes opening at once migrate
    /// once), and none runs while a live run holds any lock (it may be an older tenantry, whose
    /// lock the migration would move away from under it).
    fn migrate(&self) -> StateResult<()> {
        let mut conn = self.conn();
        loop {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
            let version = usize::try_from(version).unwrap_or(0);
            if version > MIGRATIONS.len() {
                return Err(self.err(format!(
                    "the state was written by a newer tenantry (schema {version}, this one knows {}); upgrade tenantry",
                    MIGRATIONS.len()
                )));
            }
            let Some(sql) = MIGRATIONS.get(version) else { return Ok(()) };
            let now = Timestamp::now();
            if let Some(live) =
                locks_at(&tx, version).map_err(|e| self.err(e))?.into_iter().find(|l| gone(l, now).is_none())
            {
                return Err(self.err(format!(
                    "the state schema needs an upgrade (to {}), which waits until no run holds a lock; it is locked by {live}",
                    MIGRATIONS.len()
                )));
            }
            tx.execute_batch(sql).map_err(|e| self.err(format!("migration {}: {e}", version + 1)))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1)).map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
        }
    }

    /// One write: an IMMEDIATE transaction that, for a fenced handle, first checks that its
    /// lock still exists (`what` names the write for the error), then runs `f` and commits.
    fn write<T>(
        &self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> StateResult<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        self.fence_holds(&tx, what)?;
        let out = f(&tx).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn fence_holds(&self, conn: &Connection, what: impl FnOnce() -> String) -> StateResult<()> {
        let Some(id) = &self.fence else { return Ok(()) };
        let exists = conn
            .query_row("SELECT 1 FROM locks WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .map_err(|e| self.err(e))?
            .is_some();
        if exists { Ok(()) } else { Err(StateError::LockLost { id: id.clone(), what: what() }) }
    }
}

/// Why the holder of `l` is gone, if it is: its lock expired, or its process is gone.
fn gone(l: &LockInfo, now: Timestamp) -> Option<String> {
    if l.expires_at <= now {
        Some(format!("it expired at {}", crate::core::fmt_time(l.expires_at)))
    } else if process_gone(&l.host, l.pid) {
        Some(format!("process {} on this host is gone", l.pid))
    } else {
        None
    }
}

fn ts(s: String) -> Timestamp {
    s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn verify_text(v: Verify) -> &'static str {
    match v {
        Verify::Observation => "observation",
        Verify::Attestation => "attestation",
    }
}

fn row_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<TaskRecord>> {
    let seq: i64 = r.get(0)?;
    let key: String = r.get(1)?;
    let Some(key) = ObjectKey::parse(&key) else { return Ok(None) };
    let vendor: String = r.get(3)?;
    let Some(vendor) = crate::model::Vendor::parse(&vendor) else { return Ok(None) };
    let values: String = r.get(6)?;
    let verify: String = r.get(7)?;
    let status: String = r.get(9)?;
    Ok(Some(TaskRecord {
        id: format!("T-{seq}"),
        key,
        task: r.get(2)?,
        vendor,
        page: r.get(4)?,
        title: r.get(5)?,
        values: json(&values),
        verify: if verify == "attestation" { Verify::Attestation } else { Verify::Observation },
        created_at: ts(r.get(8)?),
        status: serde_json::from_str(&status).unwrap_or(TaskStatus::Open),
        delivered: r.get(10)?,
        target: r.get(11)?,
        note: r.get(12)?,
    }))
}

const TASK_COLUMNS: &str =
    "seq, key, task, vendor, page, title, task_values, verify, created_at, status, delivered, target, note";

/// Whether a process is gone: only knowable for this host (on Linux, through /proc).
fn process_gone(host: &str, pid: u32) -> bool {
    host == super::lock::hostname() && Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

impl StateStore for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn snapshot(&self) -> StateResult<StateSnapshot> {
        let mut snap = StateSnapshot::default();
        {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT key, vendor_id, created_at, updated_at, applied FROM bindings")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (key, vendor_id, created, updated, applied) = row.map_err(|e| self.err(e))?;
                if let Some(key) = ObjectKey::parse(&key) {
                    snap.bindings.insert(
                        key.clone(),
                        Binding {
                            key,
                            vendor_id,
                            created_at: ts(created),
                            updated_at: ts(updated),
                            applied: json(&applied),
                        },
                    );
                }
            }
            let mut stmt = conn
                .prepare("SELECT key, action, natural_key, started_at, detail FROM intents")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (key, action, nk, started, detail) = row.map_err(|e| self.err(e))?;
                if let Some(key) = ObjectKey::parse(&key) {
                    let natural_key: NaturalKey = json(&nk);
                    snap.intents
                        .insert(key.clone(), Intent { key, action, natural_key, started_at: ts(started), detail });
                }
            }
        }
        snap.tasks = self.tasks()?;
        Ok(snap)
    }

    fn binding(&self, key: &ObjectKey) -> StateResult<Option<Binding>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT vendor_id, created_at, updated_at, applied FROM bindings WHERE key = ?1",
            params![key.id()],
            |r| {
                Ok(Binding {
                    key: key.clone(),
                    vendor_id: r.get(0)?,
                    created_at: ts(r.get(1)?),
                    updated_at: ts(r.get(2)?),
                    applied: json(&r.get::<_, String>(3)?),
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn merge_binding(
        &self,
        key: &ObjectKey,
        vendor_id: Option<&str>,
        applied: &BTreeMap<String, serde_json::Value>,
        at: Timestamp,
    ) -> StateResult<Option<Binding>> {
        // One transaction: the read and the write are one step, also against other processes.
        self.write(
            || format!("the binding of {}", key.id()),
            |tx| {
                let existing: Option<(String, String, String)> = tx
                    .query_row(
                        "SELECT vendor_id, created_at, applied FROM bindings WHERE key = ?1",
                        params![key.id()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let binding = match (existing, vendor_id) {
                    (None, None) => return Ok(None),
                    (None, Some(id)) => Binding {
                        key: key.clone(),
                        vendor_id: id.to_string(),
                        created_at: at,
                        updated_at: at,
                        applied: applied.clone(),
                    },
                    (Some((old_id, created, old_applied)), id) => {
                        let mut merged: BTreeMap<String, serde_json::Value> = json(&old_applied);
                        merged.extend(applied.iter().map(|(k, v)| (k.clone(), v.clone())));
                        let vendor_id = id.map(str::to_string).unwrap_or_else(|| old_id.clone());
                        let created_at = if vendor_id == old_id { ts(created) } else { at };
                        Binding { key: key.clone(), vendor_id, created_at, updated_at: at, applied: merged }
                    }
                };
                tx.execute(
                    "INSERT INTO bindings (key, vendor_id, created_at, updated_at, applied) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET vendor_id = ?2, created_at = ?3, updated_at = ?4, applied = ?5",
                    params![
                        key.id(),
                        binding.vendor_id,
                        binding.created_at.to_string(),
                        binding.updated_at.to_string(),
                        to_json(&binding.applied)
                    ],
                )?;
                Ok(Some(binding))
            },
        )
    }

    fn remove_binding(&self, key: &ObjectKey) -> StateResult<()> {
        self.write(
            || format!("the removal of the binding of {}", key.id()),
            |tx| tx.execute("DELETE FROM bindings WHERE key = ?1", params![key.id()]).map(|_| ()),
        )
    }

    fn put_intent(&self, i: &Intent) -> StateResult<()> {
        self.write(
            || format!("the intent for {}", i.key.id()),
            |tx| {
                tx.execute(
                    "INSERT INTO intents (key, action, natural_key, started_at, detail) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (key) DO UPDATE SET action = ?2, natural_key = ?3, detail = ?5",
                    params![i.key.id(), i.action, to_json(&i.natural_key), i.started_at.to_string(), i.detail],
                )
                .map(|_| ())
            },
        )
    }

    fn remove_intent(&self, key: &ObjectKey) -> StateResult<()> {
        self.write(
            || format!("the removal of the intent for {}", key.id()),
            |tx| tx.execute("DELETE FROM intents WHERE key = ?1", params![key.id()]).map(|_| ()),
        )
    }

    fn add_task(&self, t: NewTask) -> StateResult<TaskRecord> {
        let seq = self.write(
            || format!("a portal task for {} ({})", t.key.id(), t.task),
            |tx| {
                tx.execute(
            "INSERT INTO tasks (key, task, vendor, page, title, task_values, verify, created_at, status, target, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                t.key.id(),
                t.task,
                t.vendor.id(),
                t.page,
                t.title,
                to_json(&t.values),
                verify_text(t.verify),
                t.created_at.to_string(),
                to_json(&TaskStatus::Open),
                t.target,
                t.note
            ],
        )?;
                Ok(tx.last_insert_rowid())
            },
        )?;
        Ok(TaskRecord {
            id: format!("T-{seq}"),
            key: t.key,
            task: t.task,
            vendor: t.vendor,
            page: t.page,
            title: t.title,
            target: t.target,
            values: t.values,
            verify: t.verify,
            created_at: t.created_at,
            status: TaskStatus::Open,
            delivered: None,
            note: t.note,
        })
    }

    fn tasks(&self) -> StateResult<Vec<TaskRecord>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY seq")).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], row_task).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(t) = r.map_err(|e| self.err(e))? {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn set_task_status(&self, id: &str, status: TaskStatus) -> StateResult<TaskRecord> {
        let seq = task_number(id) as i64;
        self.write(
            || format!("the status of portal task {id}"),
            |tx| {
                let n = tx.execute("UPDATE tasks SET status = ?1 WHERE seq = ?2", params![to_json(&status), seq])?;
                if n == 0 {
                    return Ok(None);
                }
                tx.query_row(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE seq = ?1"), params![seq], row_task)
            },
        )?
        .ok_or_else(|| StateError::NoSuchTask(id.to_string()))
    }

    fn set_task_delivered(&self, id: &str, delivered: &str) -> StateResult<()> {
        self.write(
            || format!("the delivery of portal task {id}"),
            |tx| {
                tx.execute("UPDATE tasks SET delivered = ?1 WHERE seq = ?2", params![delivered, task_number(id) as i64])
                    .map(|_| ())
            },
        )
    }

    fn record(&self, h: &HistoryEntry) -> StateResult<()> {
        self.write(
            || format!("the history of {}", h.action),
            |tx| {
                tx.execute(
                "INSERT INTO history (at, run, action, kind, key, owner, title, result, vendor_id, message, git_commit)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    h.at.to_string(),
                    h.run,
                    h.action,
                    h.kind,
                    h.key.id(),
                    h.key.owner.to_string(),
                    h.title,
                    h.result,
                    h.vendor_id,
                    h.message,
                    h.commit
                ],
            )
            .map(|_| ())
            },
        )
    }

    fn history(&self, owner: Option<&str>, limit: usize) -> StateResult<Vec<HistoryEntry>> {
        let conn = self.conn();
        let sql = "SELECT at, run, action, kind, key, title, result, vendor_id, message, git_commit FROM history
                   WHERE (?1 IS NULL OR lower(owner) = lower(?1)) ORDER BY seq DESC LIMIT ?2";
        let mut stmt = conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![owner, limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (at, run, action, kind, key, title, result, vendor_id, message, commit) =
                row.map_err(|e| self.err(e))?;
            if let Some(key) = ObjectKey::parse(&key) {
                out.push(HistoryEntry {
                    at: ts(at),
                    run,
                    action,
                    kind,
                    key,
                    title,
                    result,
                    vendor_id,
                    message,
                    commit,
                });
            }
        }
        Ok(out)
    }

    fn plan_applied(&self, id: &str) -> StateResult<Option<AppliedPlan>> {
        self.conn()
            .query_row("SELECT id, applied_at, run FROM applied_plans WHERE id = ?1", params![id], |r| {
                Ok(AppliedPlan { id: r.get(0)?, applied_at: ts(r.get(1)?), run: r.get(2)? })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    fn record_plan_applied(&self, plan: &AppliedPlan) -> StateResult<Option<AppliedPlan>> {
        self.write(
            || format!("that plan {} is applied", plan.id),
            |tx| {
                let earlier = tx
                    .query_row("SELECT id, applied_at, run FROM applied_plans WHERE id = ?1", params![plan.id], |r| {
                        Ok(AppliedPlan { id: r.get(0)?, applied_at: ts(r.get(1)?), run: r.get(2)? })
                    })
                    .optional()?;
                if earlier.is_none() {
                    tx.execute(
                        "INSERT INTO applied_plans (id, applied_at, run) VALUES (?1, ?2, ?3)",
                        params![plan.id, plan.applied_at.to_string(), plan.run],
                    )?;
                }
                Ok(earlier)
            },
        )
    }

    fn reconciled(&self) -> StateResult<BTreeMap<ManifestRef, String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT owner, fingerprint FROM reconciled").map_err(|e| self.err(e))?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (owner, fingerprint) = row.map_err(|e| self.err(e))?;
            // A row this version cannot name (none is written so) is left out, not guessed.
            if let Some(o) = ManifestRef::parse(&owner) {
                out.insert(o, fingerprint);
            }
        }
        Ok(out)
    }

    fn set_reconciled(&self, owner: &ManifestRef, fingerprint: &str, at: Timestamp) -> StateResult<()> {
        self.write(
            || format!("that {owner} is reconciled"),
            |tx| {
                tx.execute(
                    "INSERT INTO reconciled (owner, fingerprint, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (owner) DO UPDATE SET fingerprint = excluded.fingerprint, at = excluded.at",
                    params![owner.to_string(), fingerprint, at.to_string()],
                )?;
                Ok(())
            },
        )
    }

    fn acquire_lock(&self, me: &LockInfo, now: Timestamp) -> StateResult<Acquired> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        let mut taken = Vec::new();
        for l in read_locks(&tx).map_err(|e| self.err(e))? {
            if l.id == me.id || !l.scope.conflicts(&me.scope) {
                continue;
            }
            match gone(&l, now) {
                Some(why) => taken.push(TakenOver { previous: l, why }),
                // Nothing is written: the dead ones in the way stay until no live one is.
                None => return Ok(Acquired::Held(l)),
            }
        }
        for t in &taken {
            tx.execute("DELETE FROM locks WHERE id = ?1", params![t.previous.id]).map_err(|e| self.err(e))?;
        }
        tx.execute(
            "INSERT INTO locks (id, owner, host, pid, command, started_at, expires_at, scope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET owner = ?2, host = ?3, pid = ?4, command = ?5, started_at = ?6,
                 expires_at = ?7, scope = ?8",
            params![
                me.id,
                me.owner,
                me.host,
                me.pid,
                me.command,
                me.started_at.to_string(),
                me.expires_at.to_string(),
                scope_text(&me.scope)
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Acquired::Taken(taken))
    }

    fn renew_lock(&self, id: &str, expires_at: Timestamp) -> StateResult<bool> {
        let n = self
            .conn()
            .execute("UPDATE locks SET expires_at = ?1 WHERE id = ?2", params![expires_at.to_string(), id])
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    fn release_lock(&self, id: &str) -> StateResult<()> {
        self.conn().execute("DELETE FROM locks WHERE id = ?1", params![id]).map(|_| ()).map_err(|e| self.err(e))
    }

    fn force_unlock(&self, id: &str) -> StateResult<Option<LockInfo>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        let removed = read_locks(&tx).map_err(|e| self.err(e))?.into_iter().find(|l| l.id == id);
        if removed.is_some() {
            tx.execute("DELETE FROM locks WHERE id = ?1", params![id]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(removed)
    }

    fn locks(&self) -> StateResult<Vec<LockInfo>> {
        read_locks(&self.conn()).map_err(|e| self.err(e))
    }

    fn fenced(&self, lock_id: &str) -> Arc<dyn StateStore> {
        Arc::new(SqliteStore { path: self.path.clone(), conn: self.conn.clone(), fence: Some(lock_id.to_string()) })
    }

    fn check_fence(&self) -> StateResult<()> {
        self.fence_holds(&self.conn(), || "anything more".into())
    }
}

/// How a scope is stored: `*` for everything, else a JSON list of owners.
fn scope_text(scope: &LockScope) -> String {
    match scope {
        LockScope::All => "*".into(),
        LockScope::Owners(_) => to_json(scope),
    }
}

fn parse_scope(text: &str) -> LockScope {
    // What cannot be read is taken as everything: a lock is never narrower than it was.
    if text == "*" { LockScope::All } else { serde_json::from_str(text).unwrap_or(LockScope::All) }
}

/// Every lock, oldest first.
fn read_locks(conn: &Connection) -> rusqlite::Result<Vec<LockInfo>> {
    let mut stmt = conn.prepare(
        "SELECT id, owner, host, pid, command, started_at, expires_at, scope FROM locks ORDER BY started_at, id",
    )?;
    let rows = stmt.query_map([], |r| lock_row(r, parse_scope(&r.get::<_, String>(7)?)))?;
    rows.collect()
}

/// A lock from a row whose first columns are `id, owner, host, pid, command, started_at,
/// expires_at` (in `locks`, and in the singleton `lock` of before), holding `scope`.
fn lock_row(r: &rusqlite::Row<'_>, scope: LockScope) -> rusqlite::Result<LockInfo> {
    Ok(LockInfo {
        id: r.get(0)?,
        owner: r.get(1)?,
        host: r.get(2)?,
        pid: r.get(3)?,
        command: r.get(4)?,
        started_at: ts(r.get(5)?),
        expires_at: ts(r.get(6)?),
        scope,
    })
}

/// The locks of a store at schema `version` (for a migration): none before the first; the
/// singleton `lock` (on everything) until [`LOCKS_TABLE_SINCE`].
fn locks_at(conn: &Connection, version: usize) -> rusqlite::Result<Vec<LockInfo>> {
    match version {
        0 => Ok(Vec::new()),
        v if v < LOCKS_TABLE_SINCE => conn
            .query_row(
                "SELECT id, owner, host, pid, command, started_at, expires_at FROM lock WHERE singleton = 1",
                [],
                |r| lock_row(r, LockScope::All),
            )
            .optional()
            .map(|l| l.into_iter().collect()),
        _ => read_locks(conn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store as tenantry left it before locks per owner (schema 3, the singleton lock),
    /// holding one lock that expires `expires_in` seconds from now, on this host and process.
    fn schema_3(path: &Path, expires_in: i64) -> String {
        let conn = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 3").unwrap();
        let now = Timestamp::now();
        let expires = now + jiff::SignedDuration::from_secs(expires_in);
        conn.execute(
            "INSERT INTO lock (singleton, id, owner, host, pid, command, started_at, expires_at)
             VALUES (1, 'old1', 'ci', ?1, ?2, 'tenantry apply', ?3, ?4)",
            params![super::super::lock::hostname(), std::process::id(), now.to_string(), expires.to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO bindings (key, vendor_id, created_at, updated_at, applied)
             VALUES ('customer/acme/acronis/tenant', 't-1', ?1, ?1, '{}')",
            params![now.to_string()],
        )
        .unwrap();
        "old1".into()
    }

    fn version(path: &Path) -> i64 {
        Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_store_with_the_singleton_lock_of_before_opens_and_its_lock_becomes_one_on_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let id = schema_3(&path, -60);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), MIGRATIONS.len() as i64);
        let locks = store.locks().unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!((locks[0].id.as_str(), &locks[0].scope), (id.as_str(), &LockScope::All));
        assert_eq!(store.snapshot().unwrap().bindings.len(), 1, "the bindings are kept");
        // It expired: the first run of any scope takes it over, as before.
        let mut me = locks[0].clone();
        me.id = "new1".into();
        me.scope = LockScope::Owners([crate::model::ManifestRef::customer("acme")].into());
        let Acquired::Taken(taken) = store.acquire_lock(&me, Timestamp::now()).unwrap() else { panic!("held") };
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].previous.id, id);
        assert!(taken[0].why.starts_with("it expired at"), "{}", taken[0].why);
        // A second handle on the migrated file opens it as it is.
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.locks().unwrap().len(), 1);
    }

    #[test]
    fn no_migration_runs_while_a_live_run_holds_the_lock_of_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        schema_3(&path, 3600);
        let err = SqliteStore::open(&path).err().expect("refused");
        let text = err.to_string();
        assert!(text.contains("waits until no run holds a lock") && text.contains("lock id old1"), "{text}");
        assert_eq!(version(&path), 3, "nothing migrated");
        // Once that run's lock lapses (it ended, or was killed), the store opens.
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE lock SET expires_at = ?1", params![Timestamp::UNIX_EPOCH.to_string()]).unwrap();
        SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), MIGRATIONS.len() as i64);
    }

    #[test]
    fn processes_opening_a_new_store_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let opened: Vec<StateResult<SqliteStore>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| SqliteStore::open(&path))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for o in opened {
            o.unwrap();
        }
        assert_eq!(version(&path), MIGRATIONS.len() as i64);
    }
}
