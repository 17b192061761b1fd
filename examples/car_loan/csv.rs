//! Loading of the car-loan CSV files: the reference and analysis predictions and the ground
//! truth of the analysis period.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::calendar::parse_timestamp;

pub const REFERENCE_FILE: &str = "synthetic_car_loan_reference.csv";
pub const ANALYSIS_FILE: &str = "synthetic_car_loan_analysis.csv";
pub const TARGET_FILE: &str = "synthetic_car_loan_analysis_target.csv";

/// One prediction of the car-loan model, with its ground truth when the data has it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoanPrediction {
    pub id: u64,
    pub timestamp_ms: i64,
    pub car_value: f64,
    pub salary_range: String,
    pub debt_to_income_ratio: f64,
    pub loan_length: f64,
    pub repaid_loan_on_prev_car: bool,
    pub size_of_downpayment: String,
    pub driver_tenure: f64,
    /// Score in [0, 1].
    pub y_pred_proba: f64,
    /// Predicted class, 0 or 1.
    pub y_pred: i64,
    /// Ground truth, 0 or 1.
    pub repaid: Option<i64>,
}

/// A data file that is missing or malformed, with the 1-based line at fault when there is one.
#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// Loads the reference and analysis predictions of `data_dir`, in file order, and joins the
/// ground truth of the target file to the analysis predictions by `id`.
///
/// Ids must be unique across both prediction files. An analysis prediction without a row in the
/// target file keeps `repaid: None`.
pub fn load_car_loan(data_dir: &Path) -> Result<Vec<LoanPrediction>, LoadError> {
    let mut seen_ids = HashSet::new();
    let mut predictions = load_predictions(&data_dir.join(REFERENCE_FILE), true, &mut seen_ids)?;
    let mut analysis = load_predictions(&data_dir.join(ANALYSIS_FILE), false, &mut seen_ids)?;
    join_targets(&data_dir.join(TARGET_FILE), &mut analysis)?;
    predictions.extend(analysis);
    Ok(predictions)
}

/// Loads one prediction file. `with_repaid` requires a `repaid` column.
fn load_predictions(
    path: &Path,
    with_repaid: bool,
    seen_ids: &mut HashSet<u64>,
) -> Result<Vec<LoanPrediction>, LoadError> {
    let file = CsvFile::open(path)?;
    let columns = PredictionColumns::find(&file, with_repaid)?;
    let mut predictions = Vec::new();
    for record in file.records() {
        let record = record?;
        let prediction = columns.parse(&record)?;
        if !seen_ids.insert(prediction.id) {
            return Err(record.error(format!(
                "id {} is already used by an earlier prediction: ids must be unique across the \
                 reference and analysis files",
                prediction.id
            )));
        }
        predictions.push(prediction);
    }
    Ok(predictions)
}

/// Sets `repaid` of each prediction in `analysis` from the target file at `path`.
fn join_targets(path: &Path, analysis: &mut [LoanPrediction]) -> Result<(), LoadError> {
    let file = CsvFile::open(path)?;
    let id_column = file.column("id")?;
    let repaid_column = file.column("repaid")?;
    let positions: HashMap<u64, usize> = analysis
        .iter()
        .enumerate()
        .map(|(position, prediction)| (prediction.id, position))
        .collect();
    for record in file.records() {
        let record = record?;
        let id = record.integer(id_column)?;
        let repaid = record.binary(repaid_column)?;
        let prediction = positions
            .get(&id)
            .and_then(|&position| analysis.get_mut(position))
            .ok_or_else(|| record.error(format!("id {id} has no prediction in {ANALYSIS_FILE}")))?;
        if prediction.repaid.is_some() {
            return Err(record.error(format!("ground truth of id {id} is given twice")));
        }
        prediction.repaid = Some(repaid);
    }
    Ok(())
}

/// Positions of the columns of a prediction file.
struct PredictionColumns {
    id: Column,
    timestamp: Column,
    car_value: Column,
    salary_range: Column,
    debt_to_income_ratio: Column,
    loan_length: Column,
    repaid_loan_on_prev_car: Column,
    size_of_downpayment: Column,
    driver_tenure: Column,
    y_pred_proba: Column,
    y_pred: Column,
    repaid: Option<Column>,
}

impl PredictionColumns {
    fn find(file: &CsvFile, with_repaid: bool) -> Result<Self, LoadError> {
        Ok(PredictionColumns {
            id: file.column("id")?,
            timestamp: file.column("timestamp")?,
            car_value: file.column("car_value")?,
            salary_range: file.column("salary_range")?,
            debt_to_income_ratio: file.column("debt_to_income_ratio")?,
            loan_length: file.column("loan_length")?,
            repaid_loan_on_prev_car: file.column("repaid_loan_on_prev_car")?,
            size_of_downpayment: file.column("size_of_downpayment")?,
            driver_tenure: file.column("driver_tenure")?,
            y_pred_proba: file.column("y_pred_proba")?,
            y_pred: file.column("y_pred")?,
            repaid: with_repaid.then(|| file.column("repaid")).transpose()?,
        })
    }

    fn parse(&self, record: &Record<'_>) -> Result<LoanPrediction, LoadError> {
        let y_pred_proba = record.float(self.y_pred_proba)?;
        if !(0.0..=1.0).contains(&y_pred_proba) {
            return Err(record.invalid(self.y_pred_proba, "expected a score in [0, 1]"));
        }
        let timestamp = record.text(self.timestamp)?;
        let timestamp_ms = parse_timestamp(timestamp).map_err(|message| record.error(message))?;
        Ok(LoanPrediction {
            id: record.integer(self.id)?,
            timestamp_ms,
            car_value: record.float(self.car_value)?,
            salary_range: record.text(self.salary_range)?.to_owned(),
            debt_to_income_ratio: record.float(self.debt_to_income_ratio)?,
            loan_length: record.float(self.loan_length)?,
            repaid_loan_on_prev_car: record.boolean(self.repaid_loan_on_prev_car)?,
            size_of_downpayment: record.text(self.size_of_downpayment)?.to_owned(),
            driver_tenure: record.float(self.driver_tenure)?,
            y_pred_proba,
            y_pred: record.binary(self.y_pred)?,
            repaid: self
                .repaid
                .map(|column| record.binary(column))
                .transpose()?,
        })
    }
}

/// A column of a CSV file: its position and its name, for messages.
#[derive(Clone, Copy, Debug)]
struct Column {
    index: usize,
    name: &'static str,
}

/// A CSV file read into memory.
struct CsvFile {
    path: PathBuf,
    text: String,
    header: Vec<String>,
}

impl CsvFile {
    fn open(path: &Path) -> Result<CsvFile, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError {
            path: path.to_path_buf(),
            line: None,
            message: format!(
                "failed to read the file ({e}): pass the folder of the CSV files with --data"
            ),
        })?;
        let header_line = text.lines().next().unwrap_or("");
        let header_line = header_line
            .trim_start_matches('\u{feff}')
            .trim_end_matches('\r');
        let header_error = |message: String| LoadError {
            path: path.to_path_buf(),
            line: Some(1),
            message,
        };
        if header_line.is_empty() {
            return Err(header_error("missing header line".to_owned()));
        }
        let header = split_line(header_line).map_err(header_error)?;
        let header = header.into_iter().map(Cow::into_owned).collect();
        Ok(CsvFile {
            path: path.to_path_buf(),
            text,
            header,
        })
    }

    fn column(&self, name: &'static str) -> Result<Column, LoadError> {
        match self.header.iter().position(|column| column == name) {
            Some(index) => Ok(Column { index, name }),
            None => Err(LoadError {
                path: self.path.clone(),
                line: Some(1),
                message: format!(
                    "missing column {name}: the header has {}",
                    self.header.join(",")
                ),
            }),
        }
    }

    /// Returns the records after the header, skipping blank lines.
    fn records(&self) -> impl Iterator<Item = Result<Record<'_>, LoadError>> {
        self.text
            .lines()
            .enumerate()
            .skip(1)
            .map(|(index, line)| (index + 1, line.trim_end_matches('\r')))
            .filter(|(_, line)| !line.is_empty())
            .map(|(line_number, line)| self.record(line_number, line))
    }

    fn record<'a>(&'a self, line_number: usize, line: &'a str) -> Result<Record<'a>, LoadError> {
        let mut record = Record {
            path: &self.path,
            line: line_number,
            fields: Vec::new(),
        };
        record.fields = split_line(line).map_err(|message| record.error(message))?;
        if record.fields.len() != self.header.len() {
            let message = format!(
                "expected {} fields as in the header, found {}",
                self.header.len(),
                record.fields.len()
            );
            return Err(record.error(message));
        }
        Ok(record)
    }
}

/// One line of a CSV file, split into fields.
struct Record<'a> {
    path: &'a Path,
    line: usize,
    fields: Vec<Cow<'a, str>>,
}

impl Record<'_> {
    fn error(&self, message: impl Into<String>) -> LoadError {
        LoadError {
            path: self.path.to_path_buf(),
            line: Some(self.line),
            message: message.into(),
        }
    }

    fn invalid(&self, column: Column, expected: &str) -> LoadError {
        let value = self
            .fields
            .get(column.index)
            .map_or("", |field| field.as_ref());
        self.error(format!("invalid {} {value:?}: {expected}", column.name))
    }

    /// Returns the field of `column`, which must not be empty.
    fn text(&self, column: Column) -> Result<&str, LoadError> {
        match self.fields.get(column.index) {
            Some(field) if !field.is_empty() => Ok(field),
            _ => Err(self.error(format!("missing value in column {}", column.name))),
        }
    }

    fn float(&self, column: Column) -> Result<f64, LoadError> {
        match self.text(column)?.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(self.invalid(column, "expected a finite number")),
        }
    }

    fn integer(&self, column: Column) -> Result<u64, LoadError> {
        self.text(column)?
            .parse()
            .map_err(|_| self.invalid(column, "expected a non-negative integer"))
    }

    /// Parses `True` or `False`, as pandas writes booleans, or `true` or `false`.
    fn boolean(&self, column: Column) -> Result<bool, LoadError> {
        match self.text(column)? {
            "True" | "true" => Ok(true),
            "False" | "false" => Ok(false),
            _ => Err(self.invalid(column, "expected True or False")),
        }
    }

    /// Parses a class label written as an integer or a float: `0`, `1`, `0.0` or `1.0`.
    fn binary(&self, column: Column) -> Result<i64, LoadError> {
        match self.text(column)?.parse::<f64>() {
            Ok(0.0) => Ok(0),
            Ok(1.0) => Ok(1),
            _ => Err(self.invalid(column, "expected 0 or 1")),
        }
    }
}

/// Splits one CSV line into fields. A field in double quotes may contain commas and doubled
/// quotes (`""`).
// NOTE: a quoted field cannot span lines, because files are split into lines first.
fn split_line(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let after_field = if let Some(quoted) = rest.strip_prefix('"') {
            let (field, after) = take_quoted(quoted)?;
            fields.push(Cow::Owned(field));
            if !after.is_empty() && !after.starts_with(',') {
                return Err("unexpected text after a closing quote".to_owned());
            }
            after
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let (field, after) = rest.split_at(end);
            fields.push(Cow::Borrowed(field));
            after
        };
        match after_field.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(fields),
        }
    }
}

/// Reads a quoted field up to its closing quote and returns the field and the text after it.
fn take_quoted(text: &str) -> Result<(String, &str), String> {
    let mut field = String::new();
    let mut rest = text;
    loop {
        let (chunk, after) = rest
            .split_once('"')
            .ok_or("missing closing quote: a quoted field must end on the same line")?;
        field.push_str(chunk);
        match after.strip_prefix('"') {
            Some(next) => {
                field.push('"');
                rest = next;
            }
            None => return Ok((field, after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_line(line)
            .unwrap()
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn split_line_plain_fields() {
        assert_eq!(split("1,0 - 20K €,,x"), ["1", "0 - 20K €", "", "x"]);
        assert_eq!(split(""), [""]);
        assert_eq!(split("a,"), ["a", ""]);
    }

    #[test]
    fn split_line_quoted_fields() {
        assert_eq!(split(r#""a,b",c"#), ["a,b", "c"]);
        assert_eq!(split(r#"x,"say ""hi""""#), ["x", r#"say "hi""#]);
        assert_eq!(split(r#""",1"#), ["", "1"]);
    }

    #[test]
    fn split_line_rejects_broken_quotes() {
        assert!(split_line(r#""open,1"#).is_err());
        assert!(split_line(r#""a"b,1"#).is_err());
    }

    fn write_data(dir: &Path, reference: &str, analysis: &str, target: &str) {
        std::fs::write(dir.join(REFERENCE_FILE), reference).unwrap();
        std::fs::write(dir.join(ANALYSIS_FILE), analysis).unwrap();
        std::fs::write(dir.join(TARGET_FILE), target).unwrap();
    }

    const REFERENCE: &str = "id,car_value,salary_range,debt_to_income_ratio,loan_length,\
        repaid_loan_on_prev_car,size_of_downpayment,driver_tenure,repaid,timestamp,y_pred_proba,\
        y_pred\n\
        0,39811.0,40K - 60K €,0.63,19.0,False,40%,0.21,1.0,2018-01-01 00:00:00.000,0.99,1\r\n";
    const ANALYSIS_HEADER: &str = "id,car_value,salary_range,debt_to_income_ratio,loan_length,\
        repaid_loan_on_prev_car,size_of_downpayment,driver_tenure,timestamp,y_pred_proba,y_pred\n";

    #[test]
    fn load_car_loan_joins_targets_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let analysis = format!(
            "{ANALYSIS_HEADER}7,100.0,60K+ €,0.5,7.0,True,0%,6.4,2019-08-29 11:42:33.696,0.02,0\n\
             8,200.0,60K+ €,0.5,7.0,True,0%,6.4,2019-08-29 11:51:16.848,0.7,1\n"
        );
        write_data(dir.path(), REFERENCE, &analysis, "id,repaid\n8,1\n");
        let predictions = load_car_loan(dir.path()).unwrap();
        assert_eq!(predictions.len(), 3);
        assert_eq!(predictions[0].repaid, Some(1));
        assert_eq!(predictions[0].salary_range, "40K - 60K €");
        assert_eq!(predictions[1].id, 7);
        assert_eq!(predictions[1].repaid, None);
        assert_eq!(predictions[2].repaid, Some(1));
        assert_eq!(predictions[2].timestamp_ms, 1_567_079_476_848);
        assert!(predictions[1].repaid_loan_on_prev_car);
    }

    #[test]
    fn load_car_loan_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let analysis = format!(
            "{ANALYSIS_HEADER}7,100.0,60K+ €,0.5,7.0,True,0%,6.4,2019-08-29 11:42:33.696,0.02,0\n\
             8,200.0,60K+ €,0.5,7.0,Maybe,0%,6.4,2019-08-29 11:51:16.848,0.7,1\n"
        );
        write_data(dir.path(), REFERENCE, &analysis, "id,repaid\n8,1\n");
        let error = load_car_loan(dir.path()).unwrap_err();
        assert!(error.path.ends_with(ANALYSIS_FILE));
        assert_eq!(error.line, Some(3));
        assert!(error.message.contains("repaid_loan_on_prev_car"), "{error}");
    }

    #[test]
    fn load_car_loan_rejects_unknown_target_id() {
        let dir = tempfile::tempdir().unwrap();
        write_data(dir.path(), REFERENCE, ANALYSIS_HEADER, "id,repaid\n\n9,0\n");
        let error = load_car_loan(dir.path()).unwrap_err();
        assert!(error.path.ends_with(TARGET_FILE));
        assert_eq!(error.line, Some(3));
    }

    #[test]
    fn load_car_loan_rejects_duplicate_id() {
        let dir = tempfile::tempdir().unwrap();
        let analysis = format!(
            "{ANALYSIS_HEADER}0,100.0,60K+ €,0.5,7.0,True,0%,6.4,2019-08-29 11:42:33.696,0.02,0\n"
        );
        write_data(dir.path(), REFERENCE, &analysis, "id,repaid\n");
        let error = load_car_loan(dir.path()).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("id 0"), "{error}");
    }

    #[test]
    fn load_car_loan_rejects_short_row_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let analysis = format!("{ANALYSIS_HEADER}7,100.0\n");
        write_data(dir.path(), REFERENCE, &analysis, "id,repaid\n");
        let error = load_car_loan(dir.path()).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("expected 11 fields"), "{error}");

        std::fs::remove_file(dir.path().join(ANALYSIS_FILE)).unwrap();
        let error = load_car_loan(dir.path()).unwrap_err();
        assert_eq!(error.line, None);
        assert!(error.path.ends_with(ANALYSIS_FILE));
    }

    #[test]
    fn load_car_loan_rejects_score_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let reference = REFERENCE.replace(",0.99,1", ",1.5,1");
        write_data(dir.path(), &reference, ANALYSIS_HEADER, "id,repaid\n");
        let error = load_car_loan(dir.path()).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("y_pred_proba"), "{error}");
    }
}
