//! Compares every evaluator of `modelmetrics::eval` with the figures that SciPy 1.17.1 and
//! scikit-learn 1.9.1 computed for the same inputs. tests/data/eval/generate.py wrote them,
//! and tests/data/eval/README.md describes the format.
//!
//! A figure matches when it is within 1e-9 of the expected value: absolute for expected
//! values up to 1 in magnitude, relative above. An undefined figure must name the same
//! reason. Each test collects every mismatch before it fails, so one run lists them all.

use std::collections::HashMap;
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};

use modelmetrics::eval::special::{chi_square_sf, kolmogorov_smirnov_sf, smirnov_sf};
use modelmetrics::eval::{
    BinaryClassification, CategoricalDrift, CategoricalDriftResult, KsMethod, KsTest, NumericDrift,
    NumericDriftResult, Regression, Undefined, average_precision, brier_score, ks_two_sample,
    log_loss, roc_auc, wasserstein_distance,
};

const TOLERANCE: f64 = 1e-9;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval")
}

fn car_loan_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/car_loan")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The data files: `[title]` sections of `key = value` lines, `#` comments.

struct Section {
    title: String,
    fields: HashMap<String, String>,
}

impl Section {
    fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("[{}] has no {key}", self.title))
    }

    fn has(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    fn float(&self, key: &str) -> f64 {
        parse_float(self.get(key))
    }

    fn floats(&self, key: &str) -> Vec<f64> {
        self.get(key).split_whitespace().map(parse_float).collect()
    }

    fn count(&self, key: &str) -> u64 {
        let text = self.get(key);
        text.parse()
            .unwrap_or_else(|e| panic!("[{}] {key} = {text}: {e}", self.title))
    }

    fn words(&self, key: &str) -> Vec<&str> {
        self.get(key).split_whitespace().collect()
    }
}

fn parse_float(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|e| panic!("not a number: {text}: {e}"))
}

fn parse_sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(title) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push(Section {
                title: title.to_owned(),
                fields: HashMap::new(),
            });
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .or_else(|| line.split_once(" ="))
            .unwrap_or_else(|| panic!("not a key = value line: {line}"));
        let section = sections
            .last_mut()
            .expect("a field before the first section");
        section.fields.insert(key.to_owned(), value.to_owned());
    }
    sections
}

fn read_sections(name: &str) -> Vec<Section> {
    let sections = parse_sections(&read(&data_dir().join(name)));
    assert!(!sections.is_empty(), "{name} has no sections");
    sections
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// Mismatches of one test, reported together at the end.
#[derive(Default)]
struct Mismatches {
    lines: Vec<String>,
    checked: usize,
    /// Largest error of a matching figure, printed with `--nocapture`.
    max_error: f64,
    max_error_context: String,
}

impl Mismatches {
    fn number(&mut self, context: &str, actual: f64, expected: f64) {
        self.checked += 1;
        let error = (actual - expected).abs() / expected.abs().max(1.0);
        let equal = actual == expected || (actual.is_nan() && expected.is_nan());
        // A NaN error (a NaN on one side only) is a mismatch too.
        let within = error <= TOLERANCE;
        if !equal && !within {
            self.lines.push(format!(
                "{context}: {actual:e} vs {expected:e} (error {error:e})"
            ));
        } else if error > self.max_error {
            self.max_error = error;
            self.max_error_context = context.to_owned();
        }
    }

    /// Checks a figure against `expected`: a number, or `undefined Reason`.
    fn figure(&mut self, context: &str, actual: Result<f64, Undefined>, expected: &str) {
        match (actual, expected.strip_prefix("undefined ")) {
            (Ok(actual), None) => self.number(context, actual, parse_float(expected)),
            (Err(reason), Some(expected_reason)) => {
                self.same(context, format!("{reason:?}"), expected_reason.to_owned())
            }
            (actual, _) => {
                self.checked += 1;
                self.lines
                    .push(format!("{context}: {actual:?} vs {expected}"));
            }
        }
    }

    fn field(&mut self, section: &Section, key: &str, actual: Result<f64, Undefined>) {
        let context = format!("[{}] {key}", section.title);
        self.figure(&context, actual, section.get(key));
    }

    fn same<T: PartialEq + Debug>(&mut self, context: &str, actual: T, expected: T) {
        self.checked += 1;
        if actual != expected {
            self.lines
                .push(format!("{context}: {actual:?} vs {expected:?}"));
        }
    }

    fn assert_none(self, file: &str) {
        println!(
            "{file}: {} checks, largest error {:e} at {}",
            self.checked, self.max_error, self.max_error_context
        );
        assert!(self.checked > 0, "{file}: nothing was checked");
        assert!(
            self.lines.is_empty(),
            "{file}: {} of {} checks failed:\n{}",
            self.lines.len(),
            self.checked,
            self.lines.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Special functions

#[test]
fn special_functions_match_scipy() {
    let text = read(&data_dir().join("special.txt"));
    let mut mismatches = Mismatches::default();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [function, first, second, expected] = fields[..] else {
            panic!("not four columns: {line}");
        };
        let expected = parse_float(expected);
        let second = parse_float(second);
        let actual = match function {
            "kstwo_sf" => kolmogorov_smirnov_sf(first.parse().unwrap(), second),
            "smirnov_sf" => smirnov_sf(first.parse().unwrap(), second),
            "chi2_sf" => chi_square_sf(second, first.parse().unwrap()),
            other => panic!("unknown function {other}"),
        };
        mismatches.number(line, actual, expected);
    }
    mismatches.assert_none("special.txt");
}

// ---------------------------------------------------------------------------------------------
// Binary classification

fn check_binary(m: &mut Mismatches, section: &Section, summary: &BinaryClassification) {
    let title = &section.title;
    m.same(
        &format!("[{title}] len"),
        summary.len as u64,
        section.count("len"),
    );
    m.same(
        &format!("[{title}] positives"),
        summary.positives as u64,
        section.count("positives"),
    );
    m.field(section, "roc_auc", summary.roc_auc);
    m.field(section, "average_precision", summary.average_precision);
    m.field(section, "log_loss", summary.log_loss);
    m.field(section, "brier_score", summary.brier_score);

    let confusion = &summary.confusion;
    m.field(section, "accuracy", confusion.accuracy());
    m.field(section, "precision", confusion.precision());
    m.field(section, "recall", confusion.recall());
    m.field(section, "f1", confusion.f1());
    for (key, actual) in [
        ("true_positives", confusion.true_positives),
        ("false_positives", confusion.false_positives),
        ("true_negatives", confusion.true_negatives),
        ("false_negatives", confusion.false_negatives),
    ] {
        m.same(&format!("[{title}] {key}"), actual, section.count(key));
    }
}

/// The standalone functions must agree with the summary's figures.
fn check_binary_functions(m: &mut Mismatches, section: &Section, pairs: &[(f64, bool)]) {
    m.field(section, "roc_auc", roc_auc(pairs));
    m.field(section, "average_precision", average_precision(pairs));
    m.field(section, "log_loss", log_loss(pairs));
    m.field(section, "brier_score", brier_score(pairs));
}

#[test]
fn binary_classification_matches_sklearn() {
    let mut m = Mismatches::default();
    for section in read_sections("binary.txt") {
        let scores = section.floats("scores");
        let labels: Vec<bool> = section.words("labels").iter().map(|l| *l == "1").collect();
        let threshold = section.float("threshold");
        let summary = BinaryClassification::from_slices(&scores, &labels, threshold).unwrap();
        check_binary(&mut m, &section, &summary);

        let title = &section.title;
        m.same(
            &format!("[{title}] excluded_nan"),
            summary.excluded.nan as u64,
            section.count("excluded_nan"),
        );
        m.same(
            &format!("[{title}] excluded_infinite"),
            summary.excluded.infinite as u64,
            section.count("excluded_infinite"),
        );
        let pairs: Vec<(f64, bool)> = scores.into_iter().zip(labels).collect();
        check_binary_functions(&mut m, &section, &pairs);
    }
    m.assert_none("binary.txt");
}

// ---------------------------------------------------------------------------------------------
// Regression

fn check_regression(m: &mut Mismatches, section: &Section, summary: &Regression) {
    m.same(
        &format!("[{}] len", section.title),
        summary.len as u64,
        section.count("len"),
    );
    m.field(section, "mean_absolute_error", summary.mean_absolute_error);
    m.field(
        section,
        "root_mean_squared_error",
        summary.root_mean_squared_error,
    );
    m.field(
        section,
        "mean_absolute_percentage_error",
        summary.mean_absolute_percentage_error,
    );
    m.field(section, "r2", summary.r2);
}

#[test]
fn regression_matches_sklearn() {
    let mut m = Mismatches::default();
    for section in read_sections("regression.txt") {
        let predictions = section.floats("predictions");
        let truths = section.floats("truths");
        let summary = Regression::from_slices(&predictions, &truths).unwrap();
        check_regression(&mut m, &section, &summary);

        let title = &section.title;
        m.same(
            &format!("[{title}] excluded_nan"),
            summary.excluded.nan as u64,
            section.count("excluded_nan"),
        );
        m.same(
            &format!("[{title}] excluded_infinite"),
            summary.excluded.infinite as u64,
            section.count("excluded_infinite"),
        );
    }
    m.assert_none("regression.txt");
}

// ---------------------------------------------------------------------------------------------
// Numeric drift

fn check_ks(m: &mut Mismatches, section: &Section, ks: Result<KsTest, Undefined>) {
    let context = format!("[{}] ks_method", section.title);
    match ks {
        Ok(test) => {
            m.field(section, "ks_statistic", Ok(test.statistic));
            m.field(section, "ks_p_value", Ok(test.p_value));
            let method = match test.method {
                KsMethod::Exact => "exact",
                KsMethod::Asymptotic => "asymptotic",
            };
            m.same(&context, method, section.get("ks_method"));
        }
        Err(reason) => {
            m.field(section, "ks_statistic", Err(reason));
            m.field(section, "ks_p_value", Err(reason));
        }
    }
}

fn check_numeric(m: &mut Mismatches, section: &Section, result: &NumericDriftResult) {
    let title = &section.title;
    m.same(
        &format!("[{title}] reference_len"),
        result.reference_len as u64,
        section.count("reference_len"),
    );
    m.same(
        &format!("[{title}] window_len"),
        result.window_len as u64,
        section.count("window_len"),
    );
    check_ks(m, section, result.ks);
    m.field(section, "wasserstein", result.wasserstein);
    m.field(section, "psi", result.psi);
}

fn check_psi_edges(m: &mut Mismatches, section: &Section, drift: &NumericDrift) {
    if !section.has("psi_edges") {
        return;
    }
    let expected = section.floats("psi_edges");
    let actual = drift.psi_edges();
    m.same(
        &format!("[{}] psi_edges count", section.title),
        actual.len(),
        expected.len(),
    );
    for (i, (&a, &e)) in actual.iter().zip(&expected).enumerate() {
        m.number(&format!("[{}] psi_edges[{i}]", section.title), a, e);
    }
}

#[test]
fn numeric_drift_matches_scipy() {
    let mut m = Mismatches::default();
    for section in read_sections("numeric_drift.txt") {
        let reference = section.floats("reference");
        let window = section.floats("window");
        let bins = section.count("psi_bins") as usize;
        let drift = NumericDrift::with_psi_bins(&reference, bins).unwrap();
        let result = drift.compare(&window);
        check_numeric(&mut m, &section, &result);
        check_psi_edges(&mut m, &section, &drift);

        let title = &section.title;
        m.same(
            &format!("[{title}] window_excluded_nan"),
            result.window_excluded.nan as u64,
            section.count("window_excluded_nan"),
        );
        m.same(
            &format!("[{title}] window_excluded_infinite"),
            result.window_excluded.infinite as u64,
            section.count("window_excluded_infinite"),
        );
        // The standalone functions take the raw samples and must agree.
        check_ks(&mut m, &section, ks_two_sample(&reference, &window));
        m.field(
            &section,
            "wasserstein",
            wasserstein_distance(&reference, &window),
        );
    }
    m.assert_none("numeric_drift.txt");
}

// ---------------------------------------------------------------------------------------------
// Categorical drift

fn check_categorical(m: &mut Mismatches, section: &Section, result: &CategoricalDriftResult) {
    let title = &section.title;
    for (key, actual) in [
        ("reference_len", result.reference_len),
        ("window_len", result.window_len),
        ("categories", result.categories as u64),
        (
            "window_only_categories",
            result.window_only_categories as u64,
        ),
        (
            "reference_only_categories",
            result.reference_only_categories as u64,
        ),
    ] {
        m.same(&format!("[{title}] {key}"), actual, section.count(key));
    }
    match result.chi_square {
        Ok(test) => {
            m.field(section, "chi2_statistic", Ok(test.statistic));
            m.field(section, "chi2_p_value", Ok(test.p_value));
            m.same(
                &format!("[{title}] chi2_dof"),
                test.degrees_of_freedom,
                section.count("chi2_dof"),
            );
        }
        Err(reason) => {
            m.field(section, "chi2_statistic", Err(reason));
            m.field(section, "chi2_p_value", Err(reason));
        }
    }
    m.field(section, "jensen_shannon", result.jensen_shannon);
    m.field(section, "psi", result.psi);
    m.field(section, "l_infinity", result.l_infinity);
}

#[test]
fn categorical_drift_matches_scipy() {
    let mut m = Mismatches::default();
    for section in read_sections("categorical_drift.txt") {
        let drift = CategoricalDrift::new(section.words("reference"));
        let result = drift.compare(section.words("window"));
        check_categorical(&mut m, &section, &result);
    }
    m.assert_none("categorical_drift.txt");
}

// ---------------------------------------------------------------------------------------------
// Car-loan data

/// A CSV file without quoted fields, as the car-loan files are.
struct Table {
    columns: HashMap<String, usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(name: &str) -> Self {
        let text = read(&car_loan_dir().join(name));
        let mut lines = text.lines();
        let header = lines.next().expect("a header line");
        let columns = header
            .split(',')
            .enumerate()
            .map(|(i, name)| (name.to_owned(), i))
            .collect();
        let rows = lines
            .map(|line| line.split(',').map(str::to_owned).collect())
            .collect();
        Table { columns, rows }
    }

    fn column(&self, name: &str) -> usize {
        *self
            .columns
            .get(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

/// One prediction: the values of its row by column name, and its label.
struct LoanRow {
    values: HashMap<String, String>,
    label: bool,
}

impl LoanRow {
    fn value(&self, column: &str) -> &str {
        &self.values[column]
    }

    fn float(&self, column: &str) -> f64 {
        parse_float(self.value(column))
    }
}

fn loan_rows(table: &Table, labels: impl Fn(&[String]) -> bool) -> Vec<LoanRow> {
    table
        .rows
        .iter()
        .map(|row| LoanRow {
            values: table
                .columns
                .iter()
                .map(|(name, &i)| (name.clone(), row[i].clone()))
                .collect(),
            label: labels(row),
        })
        .collect()
}

/// The reference and analysis rows, the analysis labels joined from the target file by id.
fn car_loan_files() -> HashMap<&'static str, Vec<LoanRow>> {
    let reference = Table::read("synthetic_car_loan_reference.csv");
    let repaid = reference.column("repaid");
    let reference_rows = loan_rows(&reference, |row| parse_float(&row[repaid]) == 1.0);

    let targets = Table::read("synthetic_car_loan_analysis_target.csv");
    let (target_id, target_repaid) = (targets.column("id"), targets.column("repaid"));
    let labels: HashMap<String, bool> = targets
        .rows
        .iter()
        .map(|row| (row[target_id].clone(), row[target_repaid] == "1"))
        .collect();
    let analysis = Table::read("synthetic_car_loan_analysis.csv");
    let id = analysis.column("id");
    let analysis_rows = loan_rows(&analysis, |row| labels[&row[id]]);

    HashMap::from([("reference", reference_rows), ("analysis", analysis_rows)])
}

fn select_sample<'a>(
    files: &'a HashMap<&str, Vec<LoanRow>>,
    section: &Section,
) -> Vec<&'a LoanRow> {
    let (start, end) = (section.get("start"), section.get("end"));
    let limit = if section.has("limit") {
        section.count("limit") as usize
    } else {
        usize::MAX
    };
    files[section.get("file")]
        .iter()
        .filter(|row| (start..end).contains(&row.value("timestamp")))
        .take(limit)
        .collect()
}

/// Category keys as the generator wrote them: booleans as `bool_category` keys.
fn category(feature: &str, value: &str) -> String {
    if feature == "repaid_loan_on_prev_car" {
        let flag = match value {
            "True" => true,
            "False" => false,
            other => panic!("not a boolean: {other}"),
        };
        return modelmetrics::eval::bool_category(flag).to_owned();
    }
    value.to_owned()
}

#[test]
fn car_loan_matches_scipy_and_sklearn() {
    let files = car_loan_files();
    let sections = read_sections("car_loan.txt");
    let mut m = Mismatches::default();
    let mut samples: HashMap<String, Vec<&LoanRow>> = HashMap::new();
    for section in &sections {
        let (kind, name) = section.title.split_once(' ').expect("a kind and a name");
        match kind {
            "sample" => {
                let rows = select_sample(&files, section);
                let context = format!("[{}] rows", section.title);
                m.same(&context, rows.len() as u64, section.count("rows"));
                samples.insert(name.to_owned(), rows);
            }
            "classification" => {
                let rows = &samples[section.get("sample")];
                let pairs: Vec<(f64, bool)> = rows
                    .iter()
                    .map(|r| (r.float("y_pred_proba"), r.label))
                    .collect();
                let threshold = section.float("threshold");
                let summary = BinaryClassification::from_pairs(&pairs, threshold).unwrap();
                check_binary(&mut m, section, &summary);
            }
            "regression" => {
                let rows = &samples[section.get("sample")];
                let pairs: Vec<(f64, f64)> = rows
                    .iter()
                    .map(|r| (r.float("y_pred_proba"), if r.label { 1.0 } else { 0.0 }))
                    .collect();
                check_regression(&mut m, section, &Regression::from_pairs(&pairs));
            }
            "numeric" => {
                let feature = section.get("feature");
                let values = |sample: &str| -> Vec<f64> {
                    samples[sample].iter().map(|r| r.float(feature)).collect()
                };
                let drift = NumericDrift::new(&values(section.get("reference")));
                let result = drift.compare(&values(section.get("window")));
                check_numeric(&mut m, section, &result);
                check_psi_edges(&mut m, section, &drift);
            }
            "categorical" => {
                let feature = section.get("feature");
                let values = |sample: &str| -> Vec<String> {
                    samples[sample]
                        .iter()
                        .map(|r| category(feature, r.value(feature)))
                        .collect()
                };
                let drift = CategoricalDrift::new(values(section.get("reference")));
                let result = drift.compare(values(section.get("window")));
                check_categorical(&mut m, section, &result);
            }
            other => panic!("unknown section kind {other}"),
        }
    }
    m.assert_none("car_loan.txt");
}
