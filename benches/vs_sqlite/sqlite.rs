//! The workload on SQLite (rusqlite, bundled SQLite) as a competent engineer would set it up:
//! WAL journal, `synchronous=NORMAL` (`FULL` in durable mode), a 64 MiB page cache, cached
//! prepared statements, `BATCH_LEN` rows per transaction, and the tables below.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::car_loan::{self, CarLoan};
use crate::measure::{BenchResult, Scored};
use crate::peer::{Mode, Peer};
use crate::workload::{BATCH_LEN, Label, MODEL, Row, RowGenerator, Window};

const DB_FILE: &str = "bench.sqlite";
/// Page cache per connection, in KiB (a negative `cache_size` counts KiB); the same size as the
/// default head of modelmetrics.
const CACHE_KIB: i64 = 64 * 1024;
/// How long a writer waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS predictions(
        id INTEGER PRIMARY KEY,
        uuid BLOB NOT NULL UNIQUE,
        model TEXT NOT NULL,
        ts INTEGER NOT NULL,
        score REAL, amount REAL, ratio REAL, tenure REAL);
    CREATE INDEX IF NOT EXISTS predictions_model_ts ON predictions(model, ts);
    CREATE TABLE IF NOT EXISTS delayed(
        uuid BLOB, metric TEXT, ts INTEGER, value,
        PRIMARY KEY(uuid, metric)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS aggregates(
        model TEXT, start_ms INTEGER, end_ms INTEGER, metric TEXT, value,
        PRIMARY KEY(model, start_ms, end_ms, metric)) WITHOUT ROWID;";

const INSERT_PREDICTION: &str = "INSERT INTO predictions(uuid, model, ts, score, amount, ratio, \
     tenure) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const UPSERT_DELAYED: &str =
    "INSERT OR REPLACE INTO delayed(uuid, metric, ts, value) VALUES (?1, ?2, ?3, ?4)";
const UPSERT_AGGREGATE: &str = "INSERT OR REPLACE INTO aggregates(model, start_ms, end_ms, \
     metric, value) VALUES (?1, ?2, ?3, ?4, ?5)";
/// The window read: predictions by the (model, ts) index, labels by the delayed primary key.
const READ_WINDOW: &str = "
    SELECT p.uuid, p.ts, p.score, p.amount, p.ratio, p.tenure, d.value
    FROM predictions p
    LEFT JOIN delayed d ON d.uuid = p.uuid AND d.metric = 'label'
    WHERE p.model = ?1 AND p.ts >= ?2 AND p.ts < ?3
    ORDER BY p.ts";
/// The window read of a job that needs the score and the label only.
const READ_SCORES: &str = "
    SELECT p.uuid, p.ts, p.score, d.value
    FROM predictions p
    LEFT JOIN delayed d ON d.uuid = p.uuid AND d.metric = 'label'
    WHERE p.model = ?1 AND p.ts >= ?2 AND p.ts < ?3
    ORDER BY p.ts";
/// Aggregates of windows that overlap `[?2, ?3)`, as modelmetrics returns them.
const READ_AGGREGATES: &str = "
    SELECT start_ms, end_ms, metric, value FROM aggregates
    WHERE model = ?1 AND start_ms < ?3 AND end_ms > ?2
    ORDER BY start_ms, end_ms, metric";

pub struct Sqlite {
    path: PathBuf,
    connection: Option<Connection>,
}

/// Opens a connection with the settings of `mode` and creates the tables when missing.
fn connect(path: &Path, mode: Mode) -> BenchResult<Connection> {
    let connection = Connection::open(path)?;
    let journal: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite kept journal_mode {journal}, expected wal").into());
    }
    let synchronous = match mode {
        Mode::Default => "NORMAL",
        Mode::Durable => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.execute_batch(SCHEMA)?;
    Ok(connection)
}

/// Returns the bytes of the database file and of its -wal and -shm files, when present.
fn db_bytes(path: &Path) -> BenchResult<u64> {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(metadata) = std::fs::metadata(&name) {
            total += metadata.len();
        }
    }
    Ok(total)
}

fn insert_prediction(connection: &Connection, row: &Row) -> BenchResult<()> {
    let mut statement = connection.prepare_cached(INSERT_PREDICTION)?;
    statement.execute(params![
        &row.uuid.as_bytes()[..],
        MODEL,
        row.timestamp_ms,
        row.score,
        row.amount,
        row.ratio,
        row.tenure
    ])?;
    Ok(())
}

impl Sqlite {
    pub fn open(dir: &Path, mode: Mode) -> BenchResult<Sqlite> {
        let path = dir.join(DB_FILE);
        Ok(Sqlite {
            connection: Some(connect(&path, mode)?),
            path,
        })
    }

    fn connection(&mut self) -> BenchResult<&mut Connection> {
        let path = &self.path;
        self.connection
            .as_mut()
            .ok_or_else(|| format!("the connection to {} is closed", path.display()).into())
    }
}

impl Peer for Sqlite {
    fn ingest(&mut self, rows: &[Row]) -> BenchResult<Duration> {
        let connection = self.connection()?;
        let started = Instant::now();
        for chunk in rows.chunks(BATCH_LEN) {
            let transaction = connection.transaction()?;
            for row in chunk {
                insert_prediction(&transaction, row)?;
            }
            transaction.commit()?;
        }
        Ok(started.elapsed())
    }

    fn track_labels(&mut self, labels: &[Label]) -> BenchResult<Duration> {
        let connection = self.connection()?;
        let started = Instant::now();
        for chunk in labels.chunks(BATCH_LEN) {
            let transaction = connection.transaction()?;
            {
                let mut statement = transaction.prepare_cached(UPSERT_DELAYED)?;
                for label in chunk {
                    let uuid = &label.uuid.as_bytes()[..];
                    statement.execute(params![uuid, "label", label.timestamp_ms, label.label])?;
                }
            }
            transaction.commit()?;
        }
        Ok(started.elapsed())
    }

    fn flush(&mut self) -> BenchResult<()> {
        // A committed SQLite transaction is already readable from the database files.
        Ok(())
    }

    fn read_window(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        let connection = self.connection()?;
        let mut statement = connection.prepare_cached(READ_WINDOW)?;
        let mut rows = statement.query(params![MODEL, start_ms, end_ms])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let uuid: [u8; 16] = row.get_ref(0)?.as_blob()?.try_into()?;
            let (_ts, score): (i64, f64) = (row.get(1)?, row.get(2)?);
            let _features: (f64, f64, f64) = (row.get(3)?, row.get(4)?, row.get(5)?);
            let label: Option<bool> = row.get(6)?;
            std::hint::black_box(uuid);
            out.push(Scored { score, label });
        }
        Ok(out)
    }

    fn read_scores(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<Vec<Scored>> {
        let connection = self.connection()?;
        let mut statement = connection.prepare_cached(READ_SCORES)?;
        let mut rows = statement.query(params![MODEL, start_ms, end_ms])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let uuid: [u8; 16] = row.get_ref(0)?.as_blob()?.try_into()?;
            let (_ts, score): (i64, f64) = (row.get(1)?, row.get(2)?);
            let label: Option<bool> = row.get(3)?;
            std::hint::black_box(uuid);
            out.push(Scored { score, label });
        }
        Ok(out)
    }

    fn track_aggregates(&mut self, windows: &[Window]) -> BenchResult<()> {
        let connection = self.connection()?;
        let transaction = connection.transaction()?;
        {
            let mut statement = transaction.prepare_cached(UPSERT_AGGREGATE)?;
            for w in windows {
                statement.execute(params![MODEL, w.start_ms, w.end_ms, "roc_auc", w.roc_auc])?;
                let predictions = w.predictions;
                statement.execute(params![
                    MODEL,
                    w.start_ms,
                    w.end_ms,
                    "predictions",
                    predictions
                ])?;
            }
        }
        Ok(transaction.commit()?)
    }

    fn read_aggregates(&mut self, start_ms: i64, end_ms: i64) -> BenchResult<usize> {
        let connection = self.connection()?;
        let mut statement = connection.prepare_cached(READ_AGGREGATES)?;
        let mut rows = statement.query(params![MODEL, start_ms, end_ms])?;
        let mut metrics = Vec::new();
        while let Some(row) = rows.next()? {
            let window: (i64, i64) = (row.get(0)?, row.get(1)?);
            let metric: String = row.get(2)?;
            let value: rusqlite::types::Value = row.get(3)?;
            metrics.push((window, metric, value));
        }
        Ok(metrics.len())
    }

    fn single_calls(&mut self, rows: &[Row]) -> BenchResult<Vec<Duration>> {
        let connection = self.connection()?;
        let mut latencies = Vec::with_capacity(rows.len());
        for row in rows {
            let started = Instant::now();
            insert_prediction(connection, row)?;
            latencies.push(started.elapsed());
        }
        Ok(latencies)
    }

    fn calls_from_threads(
        &mut self,
        threads: usize,
        duration: Duration,
        seed: u64,
        start_ms: i64,
    ) -> BenchResult<u64> {
        let path = &self.path;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || insert_until(path, duration, seed + t as u64, start_ms))
                })
                .collect();
            let mut calls = 0;
            for worker in workers {
                calls += worker.join().map_err(|_| "a writer thread panicked")??;
            }
            Ok(calls)
        })
    }

    fn reopen(&mut self, mode: Mode) -> BenchResult<u64> {
        let bytes = self.close()?;
        self.connection = Some(connect(&self.path, mode)?);
        Ok(bytes)
    }

    fn close(&mut self) -> BenchResult<u64> {
        if let Some(connection) = self.connection.take() {
            // Closing the last connection checkpoints the WAL into the database file.
            connection.close().map_err(|(_, e)| e)?;
        }
        db_bytes(&self.path)
    }
}

/// Inserts single rows on a durable connection of its own for `duration`, each in its own
/// transaction, and returns how many it inserted. The clock starts once the connection is open.
fn insert_until(path: &Path, duration: Duration, seed: u64, start_ms: i64) -> BenchResult<u64> {
    let connection = connect(path, Mode::Durable)?;
    let mut generator = RowGenerator::new(seed);
    let deadline = Instant::now() + duration;
    let mut calls = 0;
    while Instant::now() < deadline {
        let row = generator.row(start_ms + calls as i64);
        insert_prediction(&connection, &row)?;
        calls += 1;
    }
    Ok(calls)
}

/// Tracks the car-loan data into a new database in `dir`, with a predictions table whose
/// columns are the car-loan features, and returns its bytes after close.
pub fn track_car_loan(dir: &Path, data: &CarLoan) -> BenchResult<u64> {
    let path = dir.join(DB_FILE);
    let mut connection = connect(&path, Mode::Default)?;
    connection.execute_batch(
        "CREATE TABLE car_loan(
            id INTEGER PRIMARY KEY,
            uuid BLOB NOT NULL UNIQUE,
            model TEXT NOT NULL,
            ts INTEGER NOT NULL,
            car_value REAL, salary_range TEXT, debt_to_income_ratio REAL, loan_length REAL,
            repaid_loan_on_prev_car INTEGER, size_of_downpayment TEXT, driver_tenure REAL,
            y_pred_proba REAL, y_pred INTEGER);
         CREATE INDEX car_loan_model_ts ON car_loan(model, ts);",
    )?;
    for chunk in data.loans.chunks(BATCH_LEN) {
        let transaction = connection.transaction()?;
        {
            let mut statement = transaction.prepare_cached(
                "INSERT INTO car_loan(uuid, model, ts, car_value, salary_range, \
                 debt_to_income_ratio, loan_length, repaid_loan_on_prev_car, \
                 size_of_downpayment, driver_tenure, y_pred_proba, y_pred) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for loan in chunk {
                statement.execute(params![
                    &loan.uuid.as_bytes()[..],
                    car_loan::MODEL,
                    loan.timestamp_ms,
                    loan.car_value,
                    loan.salary_range,
                    loan.debt_to_income_ratio,
                    loan.loan_length,
                    loan.repaid_loan_on_prev_car,
                    loan.size_of_downpayment,
                    loan.driver_tenure,
                    loan.y_pred_proba,
                    loan.y_pred
                ])?;
            }
        }
        transaction.commit()?;
    }
    let labelled: Vec<_> = data
        .label_order
        .iter()
        .filter_map(|&i| data.loans.get(i))
        .collect();
    for chunk in labelled.chunks(BATCH_LEN) {
        let transaction = connection.transaction()?;
        {
            let mut statement = transaction.prepare_cached(UPSERT_DELAYED)?;
            for loan in chunk {
                let uuid = &loan.uuid.as_bytes()[..];
                statement.execute(params![uuid, "repaid", loan.timestamp_ms, loan.repaid])?;
            }
        }
        transaction.commit()?;
    }
    connection.close().map_err(|(_, e)| e)?;
    db_bytes(&path)
}
