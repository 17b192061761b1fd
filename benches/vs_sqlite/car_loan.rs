//! A minimal loader of the car-loan data in examples/data/car_loan: the reference and analysis
//! predictions, with ground truth from the reference file and from the target file.
//!
//! The files hold no quoted fields, so a line splits on commas. A bench cannot import the
//! example's loader, which validates far more.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use modelmetrics::{Metrics, Uuid};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::measure::BenchResult;

pub const MODEL: &str = "car_loan";
const REFERENCE_FILE: &str = "synthetic_car_loan_reference.csv";
const ANALYSIS_FILE: &str = "synthetic_car_loan_analysis.csv";
const TARGET_FILE: &str = "synthetic_car_loan_analysis_target.csv";
/// Seed of the UUIDs and of the label arrival order.
const SEED: u64 = 0xca71_0a4d_5eed;

/// One car-loan prediction with its nine inline metrics and its ground truth `repaid`.
#[derive(Clone, Debug)]
pub struct Loan {
    pub uuid: Uuid,
    pub timestamp_ms: i64,
    pub car_value: f64,
    pub salary_range: String,
    pub debt_to_income_ratio: f64,
    pub loan_length: f64,
    pub repaid_loan_on_prev_car: bool,
    pub size_of_downpayment: String,
    pub driver_tenure: f64,
    pub y_pred_proba: f64,
    pub y_pred: i64,
    pub repaid: Option<i64>,
}

impl Loan {
    /// Returns the inline metrics, named as the CSV columns.
    pub fn metrics(&self) -> Metrics {
        Metrics::new()
            .with("car_value", self.car_value)
            .with("salary_range", self.salary_range.as_str())
            .with("debt_to_income_ratio", self.debt_to_income_ratio)
            .with("loan_length", self.loan_length)
            .with("repaid_loan_on_prev_car", self.repaid_loan_on_prev_car)
            .with("size_of_downpayment", self.size_of_downpayment.as_str())
            .with("driver_tenure", self.driver_tenure)
            .with("y_pred_proba", self.y_pred_proba)
            .with("y_pred", self.y_pred)
    }
}

/// The loans in file order (reference, then analysis) and the positions of the loans with a
/// label, in the random order in which their labels are tracked.
pub struct CarLoan {
    pub loans: Vec<Loan>,
    pub label_order: Vec<usize>,
}

impl CarLoan {
    pub fn load(dir: &Path) -> BenchResult<CarLoan> {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let mut loans = read_predictions(&dir.join(REFERENCE_FILE), &mut rng)?;
        let mut analysis = read_predictions(&dir.join(ANALYSIS_FILE), &mut rng)?;
        join_targets(&dir.join(TARGET_FILE), &mut analysis)?;
        loans.extend(analysis);
        let loans: Vec<Loan> = loans.into_iter().map(|(_, loan)| loan).collect();
        let mut label_order: Vec<usize> = (0..loans.len())
            .filter(|&i| loans.get(i).is_some_and(|l| l.repaid.is_some()))
            .collect();
        label_order.shuffle(&mut rng);
        Ok(CarLoan { loans, label_order })
    }
}

/// Reads one prediction file into `(id, loan)` pairs in file order; the reference file also
/// has `repaid`.
fn read_predictions(path: &Path, rng: &mut ChaCha8Rng) -> BenchResult<Vec<(u64, Loan)>> {
    let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: HashMap<&str, usize> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .enumerate()
        .map(|(i, name)| (name, i))
        .collect();
    let mut loans = Vec::new();
    for (number, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |name: &str| {
            header
                .get(name)
                .and_then(|&i| fields.get(i))
                .copied()
                .ok_or_else(|| format!("{} line {}: no {name}", path.display(), number + 2))
        };
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let loan = Loan {
            uuid: uuid::Builder::from_random_bytes(bytes).into_uuid(),
            timestamp_ms: parse_timestamp(field("timestamp")?)?,
            car_value: field("car_value")?.parse()?,
            salary_range: field("salary_range")?.to_owned(),
            debt_to_income_ratio: field("debt_to_income_ratio")?.parse()?,
            loan_length: field("loan_length")?.parse()?,
            repaid_loan_on_prev_car: field("repaid_loan_on_prev_car")? == "True",
            size_of_downpayment: field("size_of_downpayment")?.to_owned(),
            driver_tenure: field("driver_tenure")?.parse()?,
            y_pred_proba: field("y_pred_proba")?.parse()?,
            y_pred: field("y_pred")?.parse()?,
            repaid: match header.contains_key("repaid") {
                true => Some(field("repaid")?.parse::<f64>()? as i64),
                false => None,
            },
        };
        loans.push((field("id")?.parse()?, loan));
    }
    Ok(loans)
}

/// Sets `repaid` of the analysis loans from the target file, joined on `id`.
fn join_targets(path: &Path, analysis: &mut [(u64, Loan)]) -> BenchResult<()> {
    let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let positions: HashMap<u64, usize> = analysis
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    for line in text.lines().skip(1) {
        let (id, repaid) = line
            .split_once(',')
            .ok_or_else(|| format!("{}: invalid line {line:?}", path.display()))?;
        let id: u64 = id.parse()?;
        let (_, loan) = positions
            .get(&id)
            .and_then(|&i| analysis.get_mut(i))
            .ok_or_else(|| format!("{}: id {id} has no prediction", path.display()))?;
        loan.repaid = Some(repaid.parse()?);
    }
    Ok(())
}

/// Parses `YYYY-MM-DD HH:MM:SS.mmm`, read as UTC, into ms since the Unix epoch.
fn parse_timestamp(text: &str) -> BenchResult<i64> {
    let invalid = || format!("invalid timestamp {text:?}");
    let (date, time) = text.split_once(' ').ok_or_else(invalid)?;
    let mut date = date.split('-').map(str::parse::<i64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) = (date.next(), date.next(), date.next())
    else {
        return Err(invalid().into());
    };
    let (clock, millis) = time.split_once('.').unwrap_or((time, "000"));
    if millis.len() != 3 {
        return Err(invalid().into());
    }
    let mut clock = clock.split(':').map(str::parse::<i64>);
    let (Some(Ok(hour)), Some(Ok(minute)), Some(Ok(second))) =
        (clock.next(), clock.next(), clock.next())
    else {
        return Err(invalid().into());
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(seconds * 1000 + millis.parse::<i64>()?)
}

/// Returns the days from 1970-01-01 to a proleptic Gregorian date (Hinnant's algorithm:
/// years that start in March, eras of 400 years).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
