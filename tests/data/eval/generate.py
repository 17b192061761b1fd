#!/usr/bin/env python3
"""Write the inputs and expected values that tests/evaluators.rs compares the evaluators with.

Expected values come from SciPy 1.17.1, scikit-learn 1.9.1 and NumPy 2.4.6 on CPython 3.11.7.
The PSI has no SciPy or scikit-learn function, so `psi_numeric` and `psi_categorical` below
compute it by the definition that src/eval documents. To regenerate, from the repository root:

    python3 -m venv /tmp/evalvenv
    /tmp/evalvenv/bin/pip install scipy==1.17.1 scikit-learn==1.9.1 numpy==2.4.6
    /tmp/evalvenv/bin/python tests/data/eval/generate.py

The script stops if other versions are installed, and writes special.txt, binary.txt,
regression.txt, numeric_drift.txt, categorical_drift.txt and car_loan.txt beside itself.
README.md in this folder describes the format.
"""

import bisect
import csv
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy import special, stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics

VERSIONS = {"numpy": "2.4.6", "scipy": "1.17.1", "sklearn": "1.9.1"}
HERE = Path(__file__).resolve().parent
CAR_LOAN = HERE.parent.parent.parent / "examples" / "data" / "car_loan"

# The definitions that src/eval/psi.rs documents.
PSI_EPSILON = 1e-4
DEFAULT_PSI_BINS = 10
KS_EXACT_MAX_LEN = 10_000
THRESHOLD = 0.5


def check_versions():
    found = {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}
    if found != VERSIONS:
        sys.exit(f"expected versions {VERSIONS}, found {found}: install the expected ones")


# ---------------------------------------------------------------------------------------------
# Output


def number(x):
    """Format a float so that it reads back bit for bit (Python's shortest repr)."""
    return repr(float(x))


def numbers(values):
    return " ".join(number(v) for v in values)


def undefined(reason):
    return f"undefined {reason}"


class Writer:
    """Collects sections of `key = value` lines and writes them to one file."""

    def __init__(self, name, header):
        self.path = HERE / name
        self.lines = [f"# {line}".rstrip() for line in header.strip().splitlines()]

    def section(self, title, fields):
        self.lines.append("")
        self.lines.append(f"[{title}]")
        for key, value in fields.items():
            self.lines.append(f"{key} = {value}")

    def row(self, text):
        self.lines.append(text)

    def write(self):
        self.path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        print(f"wrote {self.path.name}: {self.path.stat().st_size} bytes")


def expect_raises(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except ValueError:
        return
    raise AssertionError(f"{function.__name__} did not raise ValueError")


def expect_nan_with_warning(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = function(*args, **kwargs)
    assert math.isnan(value), f"{function.__name__} returned {value}, expected NaN"
    assert caught, f"{function.__name__} returned NaN without a warning"


# ---------------------------------------------------------------------------------------------
# Special functions


def kstwo_arguments():
    sizes = [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 1000, 4128, 10_000, 99_999, 100_000,
             100_001, 1_000_000]
    for n in sizes:
        ds = set()
        # n·d around 1/2 and 1 (Ruben-Gambino), and n·d near n - 1.
        for t in [0.4, 0.5, 0.51, 0.75, 1.0, 1.01, 1.5, 3.0, n - 1.0, n - 0.5]:
            ds.add(t / n)
        # n·d² around every cut-off of the method.
        for c in [0.05, 0.3, 0.754693, 0.76, 1.0, 2.0, 2.19, 2.2, 2.21, 3.9, 4.0, 4.1, 10.0,
                  18.0, 100.0, 369.0, 371.0]:
            ds.add(math.sqrt(c / n))
        # n·d^1.5 around 1.4, the end of the Durbin matrix for n > 140.
        for factor in [0.9, 1.0, 1.1]:
            ds.add(factor * (1.4 / n) ** (2.0 / 3.0))
        for d in [0.0, 0.3, 0.49, 0.5, 0.51, 0.9, 0.99, 1.0]:
            ds.add(d)
        for d in sorted(ds):
            if 0.0 <= d <= 1.0:
                yield n, d


def smirnov_arguments():
    for n in [1, 2, 5, 10, 100, 1000, 10_000, 1_000_000, 1_000_001, 5_000_000]:
        ds = {0.0, 1e-3, 0.5 / n, 1.0 / n, 1.5 / n, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9,
              1.0 - 1.0 / n, 1.0 - 0.5 / n, 1.0}
        for d in sorted(ds):
            if 0.0 <= d <= 1.0:
                yield n, d


def chi2_arguments():
    for dof in [1, 2, 3, 4, 5, 7, 10, 20, 50, 100, 1000, 100_000, 200_000_000]:
        xs = {0.0, 1e-3, 0.1, 0.5, 1.0, dof / 2, dof - 1.0, float(dof), dof + 1.0, 2.0 * dof,
              5.0 * dof, 10.0 * dof + 50.0, 1000.0, 1e4}
        for x in sorted(xs):
            if x >= 0.0:
                yield dof, x


def write_special():
    out = Writer("special.txt", """
Special functions on a grid that reaches every branch of each method.
Columns: function, first argument, second argument, expected value.
kstwo_sf n d = scipy.stats.kstwo.sf(d, n); smirnov_sf n d = scipy.special.smirnov(n, d);
chi2_sf dof x = scipy.stats.chi2.sf(x, dof). Written by generate.py.
""")
    for n, d in kstwo_arguments():
        out.row(f"kstwo_sf {n} {number(d)} {number(stats.kstwo.sf(d, n))}")
    for n, d in smirnov_arguments():
        out.row(f"smirnov_sf {n} {number(d)} {number(special.smirnov(n, d))}")
    for dof, x in chi2_arguments():
        out.row(f"chi2_sf {dof} {number(x)} {number(stats.chi2.sf(x, dof))}")
    out.write()


# ---------------------------------------------------------------------------------------------
# Binary classification


def binary_figures(scores, labels, threshold):
    """Expected figures of BinaryClassification over finite (score, label) pairs."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    fields = {"len": len(s), "positives": int(y.sum())}
    if len(s) == 0:
        for key in ["roc_auc", "average_precision", "log_loss", "brier_score", "accuracy",
                    "precision", "recall", "f1"]:
            fields[key] = undefined("NoData")
        fields.update(true_positives=0, false_positives=0, true_negatives=0, false_negatives=0)
        return fields

    if y.all() or not y.any():
        expect_nan_with_warning(metrics.roc_auc_score, y, s)
        fields["roc_auc"] = undefined("OneClass")
    else:
        fields["roc_auc"] = number(metrics.roc_auc_score(y, s))

    if not y.any():
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            assert metrics.average_precision_score(y, s) == 0.0
        fields["average_precision"] = undefined("NoPositiveLabels")
    else:
        fields["average_precision"] = number(metrics.average_precision_score(y, s))

    if ((s < 0.0) | (s > 1.0)).any():
        expect_raises(metrics.log_loss, y, s, labels=[False, True])
        expect_raises(metrics.brier_score_loss, y, s, labels=[False, True])
        fields["log_loss"] = undefined("ScoreOutsideUnitInterval")
        fields["brier_score"] = undefined("ScoreOutsideUnitInterval")
    else:
        fields["log_loss"] = number(metrics.log_loss(y, s, labels=[False, True]))
        fields["brier_score"] = number(metrics.brier_score_loss(y, s, labels=[False, True]))

    predicted = s >= threshold
    fields["accuracy"] = number(metrics.accuracy_score(y, predicted))
    for key, function, reason in [
        ("precision", metrics.precision_score, "NoPredictedPositives"),
        ("recall", metrics.recall_score, "NoPositiveLabels"),
        ("f1", metrics.f1_score, "NoPositiveLabels"),
    ]:
        value = function(y, predicted, zero_division=np.nan)
        fields[key] = undefined(reason) if math.isnan(value) else number(value)
    fields["true_positives"] = int((predicted & y).sum())
    fields["false_positives"] = int((predicted & ~y).sum())
    fields["true_negatives"] = int((~predicted & ~y).sum())
    fields["false_negatives"] = int((~predicted & y).sum())
    return fields


def binary_case(out, name, scores, labels, threshold=THRESHOLD):
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    finite = np.isfinite(scores)
    fields = {
        "threshold": number(threshold),
        "scores": numbers(scores),
        "labels": " ".join("1" if label else "0" for label in labels),
        "excluded_nan": int(np.isnan(scores).sum()),
        "excluded_infinite": int(np.isinf(scores).sum()),
    }
    fields.update(binary_figures(scores[finite], labels[finite], threshold))
    out.section(name, fields)


def write_binary(rng):
    out = Writer("binary.txt", """
Binary classification cases. Inputs: threshold, scores (NaN and infinities included), labels
(1 positive, 0 negative). Figures from scikit-learn: roc_auc_score, average_precision_score,
log_loss(labels=[False, True]), brier_score_loss(labels=[False, True]), and accuracy, precision,
recall and f1 of (score >= threshold) with zero_division=nan. Written by generate.py.
""")
    scores = np.round(rng.uniform(0.0, 1.0, 300), 1)
    labels = rng.uniform(0.0, 1.0, 300) < 0.3 + 0.5 * scores
    binary_case(out, "random with ties", scores, labels)

    scores = rng.beta(2.0, 5.0, 400)
    labels = rng.uniform(0.0, 1.0, 400) < scores
    binary_case(out, "random without ties", scores, labels, threshold=0.3)

    binary_case(out, "all scores equal", [0.4] * 6, [1, 0, 1, 1, 0, 0])
    binary_case(out, "positives only", [0.1, 0.5, 0.9, 0.7], [1, 1, 1, 1])
    binary_case(out, "negatives only", [0.1, 0.5, 0.9, 0.7], [0, 0, 0, 0])
    binary_case(out, "non-finite scores mixed in",
                [0.2, math.nan, 0.8, math.inf, 0.6, -math.inf, 0.1, math.nan, 0.9],
                [0, 1, 1, 0, 0, 1, 1, 0, 1])
    binary_case(out, "only non-finite scores", [math.nan, math.inf], [1, 0])
    binary_case(out, "empty", [], [])
    binary_case(out, "scores outside the unit interval", [-2.0, 0.5, 3.0, 1.5], [0, 1, 1, 0])
    binary_case(out, "certain scores are clipped", [0.0, 1.0, 1.0, 0.0, 0.5], [1, 1, 0, 0, 1])
    binary_case(out, "scores on the threshold", [0.5, 0.5, 0.49, 0.51], [1, 0, 0, 1])
    binary_case(out, "no predicted positives", [0.1, 0.2, 0.3], [1, 0, 1], threshold=0.9)
    binary_case(out, "no positives and none predicted", [0.1, 0.2], [0, 0], threshold=0.9)
    binary_case(out, "one pair", [0.7], [1])
    out.write()


# ---------------------------------------------------------------------------------------------
# Regression


def regression_figures(predictions, truths):
    p = np.asarray(predictions, dtype=float)
    t = np.asarray(truths, dtype=float)
    fields = {"len": len(p)}
    if len(p) == 0:
        for key in ["mean_absolute_error", "root_mean_squared_error",
                    "mean_absolute_percentage_error", "r2"]:
            fields[key] = undefined("NoData")
        return fields
    fields["mean_absolute_error"] = number(metrics.mean_absolute_error(t, p))
    fields["root_mean_squared_error"] = number(metrics.root_mean_squared_error(t, p))
    fields["mean_absolute_percentage_error"] = number(
        metrics.mean_absolute_percentage_error(t, p))
    if (t == t[0]).all():
        fields["r2"] = undefined("ConstantTruth")
    else:
        fields["r2"] = number(metrics.r2_score(t, p))
    return fields


def regression_case(out, name, predictions, truths):
    p = np.asarray(predictions, dtype=float)
    t = np.asarray(truths, dtype=float)
    nan = np.isnan(p) | np.isnan(t)
    keep = np.isfinite(p) & np.isfinite(t)
    fields = {
        "predictions": numbers(p),
        "truths": numbers(t),
        "excluded_nan": int(nan.sum()),
        "excluded_infinite": int((~keep & ~nan).sum()),
    }
    fields.update(regression_figures(p[keep], t[keep]))
    out.section(name, fields)


def write_regression(rng):
    out = Writer("regression.txt", """
Regression cases. Inputs: predictions and truths (NaN and infinities included). Figures from
scikit-learn: mean_absolute_error, root_mean_squared_error, mean_absolute_percentage_error,
r2_score, all called as f(truths, predictions). Written by generate.py.
""")
    truths = np.round(rng.normal(10.0, 3.0, 200), 3)
    predictions = np.round(truths + rng.normal(0.0, 1.0, 200), 3)
    regression_case(out, "random", predictions, truths)

    truths = np.round(rng.normal(0.0, 1e12, 50), 0)
    predictions = truths + np.round(rng.normal(0.0, 1e9, 50), 0)
    regression_case(out, "large magnitudes", predictions, truths)

    regression_case(out, "zero truths", [1.0, 0.0, -0.5, 2.0], [0.0, 0.0, 1.0, 2.5])
    regression_case(out, "constant truth", [0.2, 0.1, 0.0], [0.1, 0.1, 0.1])
    regression_case(out, "non-finite values mixed in",
                    [1.0, math.nan, 3.0, math.inf, 2.0, 4.0, -math.inf],
                    [1.5, 2.0, math.nan, 1.0, 2.5, -math.inf, math.nan])
    regression_case(out, "one pair", [3.0], [2.0])
    regression_case(out, "only non-finite values", [math.nan], [1.0])
    out.write()


# ---------------------------------------------------------------------------------------------
# Numeric drift


def quantile_edges(sorted_reference, bins):
    """The PSI bin edges of src/eval/psi.rs: linear quantiles at i/bins, equal ones collapsed."""
    n = len(sorted_reference)
    edges = []
    for i in range(1, bins):
        position = i / bins * (n - 1)
        below = math.floor(position)
        fraction = position - below
        lower = sorted_reference[below]
        upper = sorted_reference[below + 1] if below + 1 < n else lower
        edge = lower + (upper - lower) * fraction
        if not edges or edge > edges[-1]:
            edges.append(edge)
    # numpy.quantile's default method interpolates the same points, rounding differently.
    expected = np.unique(np.quantile(sorted_reference, [i / bins for i in range(1, bins)]))
    scale = max(1.0, float(np.abs(sorted_reference).max()))
    assert all(any(abs(e - x) <= 1e-12 * scale for x in expected) for e in edges)
    return edges


def psi_fractions(counts, total):
    return [PSI_EPSILON if count == 0 else count / total for count in counts]


def psi(reference_counts, reference_total, window_counts, window_total):
    p = psi_fractions(reference_counts, reference_total)
    q = psi_fractions(window_counts, window_total)
    return math.fsum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q))


def psi_numeric(sorted_reference, window, bins):
    edges = quantile_edges(sorted_reference, bins)

    def counts(values):
        result = [0] * (len(edges) + 1)
        for value in values:
            result[bisect.bisect_right(edges, value)] += 1
        return result

    value = psi(counts(sorted_reference), len(sorted_reference), counts(window), len(window))
    return edges, value


def ks_figures(reference, window):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.ks_2samp(reference, window)
    fell_back = any("Switching to method=asymp" in str(w.message) for w in caught)
    exact = max(len(reference), len(window)) <= KS_EXACT_MAX_LEN and not fell_back
    return {
        "ks_statistic": number(result.statistic),
        "ks_p_value": number(result.pvalue),
        "ks_method": "exact" if exact else "asymptotic",
    }


def numeric_figures(reference, window, bins=DEFAULT_PSI_BINS):
    """Expected NumericDriftResult figures over finite values."""
    reference = np.sort(np.asarray(reference, dtype=float))
    window = np.asarray(window, dtype=float)
    fields = {"reference_len": len(reference), "window_len": len(window)}
    reason = None
    if len(reference) == 0:
        reason = "EmptyReference"
    elif len(window) == 0:
        reason = "EmptyWindow"
    if reason:
        for key in ["ks_statistic", "ks_p_value", "ks_method", "wasserstein", "psi"]:
            fields[key] = undefined(reason)
        return fields
    fields.update(ks_figures(reference, window))
    fields["wasserstein"] = number(stats.wasserstein_distance(reference, window))
    edges, value = psi_numeric(list(reference), list(window), bins)
    fields["psi_edges"] = numbers(edges)
    fields["psi"] = number(value)
    return fields


def numeric_case(out, name, reference, window, bins=DEFAULT_PSI_BINS):
    reference = np.asarray(reference, dtype=float)
    window = np.asarray(window, dtype=float)
    fields = {
        "psi_bins": bins,
        "reference": numbers(reference),
        "window": numbers(window),
        "window_excluded_nan": int(np.isnan(window).sum()),
        "window_excluded_infinite": int(np.isinf(window).sum()),
    }
    finite_reference = reference[np.isfinite(reference)]
    finite_window = window[np.isfinite(window)]
    fields.update(numeric_figures(finite_reference, finite_window, bins))
    out.section(name, fields)


def write_numeric(rng):
    out = Writer("numeric_drift.txt", """
Numeric drift cases. Inputs: psi_bins, reference and window (NaN and infinities included).
Figures from SciPy: ks_2samp(reference, window) with method='auto' (the method is SciPy's rule:
exact when the larger sample has at most 10,000 values), wasserstein_distance(reference, window).
psi_edges and psi follow the definition in src/eval/psi.rs. Written by generate.py.
""")
    tiny = [
        ("one against one", [1.0], [2.0]),
        ("one against three", [0.5], [0.1, 0.5, 0.9]),
        ("two against three with ties", [1.0, 2.0], [2.0, 2.0, 3.0]),
        ("three against three", [1.0, 2.0, 3.0], [2.5, 3.5, 4.5]),
        ("five against five with ties", [1.0, 1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 2.0, 4.0, 6.0]),
        ("four against seven", [0.1, 0.4, 0.35, 0.8], [0.2, 0.3, 0.5, 0.6, 0.7, 0.9, 1.0]),
        ("disjoint", [1.0, 2.0, 3.0], [10.0, 11.0]),
    ]
    for name, reference, window in tiny:
        numeric_case(out, f"exact {name}", reference, window)

    numeric_case(out, "exact 100 against 80",
                 np.round(rng.normal(0.0, 1.0, 100), 2), np.round(rng.normal(0.3, 1.0, 80), 2))
    numeric_case(out, "exact 500 against 500",
                 np.round(rng.normal(0.0, 1.0, 500), 2), np.round(rng.normal(0.1, 1.2, 500), 2))
    numeric_case(out, "exact 3000 against 2000",
                 np.round(rng.exponential(1.0, 3000), 2), np.round(rng.exponential(1.1, 2000), 2))
    numeric_case(out, "asymptotic 10001 against 600",
                 np.round(rng.normal(0.0, 1.0, 10_001), 2), np.round(rng.normal(0.1, 1.0, 600), 2))

    numeric_case(out, "all values equal", [3.0] * 20, [3.0] * 5)
    numeric_case(out, "constant reference, other window", [3.0] * 20, [1.0, 3.0, 4.0])
    integers = rng.integers(0, 4, 200).astype(float)
    numeric_case(out, "heavy ties collapse bin edges", integers, rng.integers(0, 6, 50))
    numeric_case(out, "window outside the reference range",
                 np.round(rng.uniform(0.0, 1.0, 50), 3), [-5.0, 7.0, 8.0])
    numeric_case(out, "non-finite values mixed in",
                 [1.0, math.nan, 2.5, math.inf, 0.5, 3.0, -math.inf],
                 [math.nan, 2.0, 2.0, -math.inf, 4.0])
    numeric_case(out, "four bins", np.arange(40.0), np.arange(10.0, 30.0, 0.5), bins=4)
    numeric_case(out, "one bin", np.arange(40.0), [100.0], bins=1)
    numeric_case(out, "empty window", [1.0, 2.0], [math.nan, math.inf])
    numeric_case(out, "empty reference", [math.nan], [1.0, 2.0])
    out.write()


# ---------------------------------------------------------------------------------------------
# Categorical drift


def categorical_figures(reference, window):
    categories = sorted(set(reference) | set(window))
    r = [reference.count(c) for c in categories]
    w = [window.count(c) for c in categories]
    fields = {
        "reference_len": len(reference),
        "window_len": len(window),
        "categories": len(categories),
        "window_only_categories": sum(1 for a in r if a == 0),
        "reference_only_categories": sum(1 for b in w if b == 0),
    }
    reason = None
    if not reference:
        reason = "EmptyReference"
    elif not window:
        reason = "EmptyWindow"
    if reason:
        for key in ["chi2_statistic", "chi2_p_value", "chi2_dof", "jensen_shannon", "psi",
                    "l_infinity"]:
            fields[key] = undefined(reason)
        return fields
    result = stats.chi2_contingency(np.array([r, w]), correction=False)
    fields["chi2_statistic"] = number(result.statistic)
    fields["chi2_p_value"] = number(result.pvalue)
    fields["chi2_dof"] = int(result.dof)
    fields["jensen_shannon"] = number(jensenshannon(r, w, base=2))
    fields["psi"] = number(psi(r, len(reference), w, len(window)))
    fields["l_infinity"] = number(
        max(abs(a / len(reference) - b / len(window)) for a, b in zip(r, w)))
    return fields


def categorical_case(out, name, reference, window):
    fields = {"reference": " ".join(reference), "window": " ".join(window)}
    fields.update(categorical_figures(list(reference), list(window)))
    out.section(name, fields)


def write_categorical(rng):
    out = Writer("categorical_drift.txt", """
Categorical drift cases. Inputs: reference and window, categories separated by spaces.
Figures from SciPy: chi2_contingency(table, correction=False) of the 2 x k table of counts,
jensenshannon(reference counts, window counts, base=2). psi and l_infinity follow the definitions
in src/eval/categorical.rs. Written by generate.py.
""")
    names = np.array(["red", "green", "blue", "cyan", "magenta"])
    categorical_case(out, "random",
                     names[rng.choice(5, 300, p=[0.4, 0.3, 0.15, 0.1, 0.05])],
                     names[rng.choice(5, 120, p=[0.3, 0.3, 0.2, 0.1, 0.1])])
    categorical_case(out, "categories in the window only", ["a", "a", "b"], ["a", "c", "d", "c"])
    categorical_case(out, "categories in the reference only", ["a", "b", "c", "c"], ["a", "a"])
    categorical_case(out, "one category", ["a", "a"], ["a"])
    categorical_case(out, "same frequencies", ["a", "b", "b"], ["b", "a", "b", "a", "b", "b"])
    categorical_case(out, "booleans", ["true"] * 70 + ["false"] * 30, ["true"] * 40 + ["false"] * 60)
    categorical_case(out, "large counts",
                     names[rng.choice(5, 2000, p=[0.2] * 5)], names[rng.choice(4, 1000)])
    categorical_case(out, "empty window", ["a", "b"], [])
    categorical_case(out, "empty reference", [], ["a"])
    out.write()


# ---------------------------------------------------------------------------------------------
# Car-loan data


def read_csv(name):
    with open(CAR_LOAN / name, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def car_loan_rows():
    """Returns the reference and analysis rows, each with a boolean `label`."""
    reference = read_csv("synthetic_car_loan_reference.csv")
    for row in reference:
        row["label"] = float(row["repaid"]) == 1.0
    analysis = read_csv("synthetic_car_loan_analysis.csv")
    targets = {row["id"]: row["repaid"] for row in read_csv("synthetic_car_loan_analysis_target.csv")}
    for row in analysis:
        row["label"] = int(targets[row["id"]]) == 1
    return {"reference": reference, "analysis": analysis}


# Windows of the car-loan data: the file, the timestamp range [start, end), and an optional limit
# on the number of rows, taken in file order.
CAR_LOAN_SAMPLES = {
    "reference": ("reference", "2018-01-01 00:00:00.000", "2018-10-30 18:00:00.000", None),
    "jan": ("analysis", "2019-01-01 00:00:00.000", "2019-02-01 00:00:00.000", None),
    "jun": ("analysis", "2019-06-01 00:00:00.000", "2019-07-01 00:00:00.000", None),
    "jan_first_1000": ("analysis", "2019-01-01 00:00:00.000", "2019-02-01 00:00:00.000", 1000),
    "jan_first_100": ("analysis", "2019-01-01 00:00:00.000", "2019-02-01 00:00:00.000", 100),
}
NUMERIC_FEATURES = ["car_value", "debt_to_income_ratio", "loan_length", "driver_tenure",
                    "y_pred_proba"]
CATEGORICAL_FEATURES = ["salary_range", "size_of_downpayment", "repaid_loan_on_prev_car"]
DRIFT_PAIRS = [("reference", "jan"), ("reference", "jun"), ("reference", "jan_first_1000"),
               ("reference", "jan_first_100"), ("jan", "jun")]


def select(rows, start, end, limit):
    chosen = [row for row in rows if start <= row["timestamp"] < end]
    return chosen[:limit] if limit else chosen


def category_key(feature, value):
    """Booleans become the keys of src/eval's bool_category; other categories stay as written."""
    if feature == "repaid_loan_on_prev_car":
        return {"True": "true", "False": "false"}[value]
    return value


def write_car_loan():
    out = Writer("car_loan.txt", """
The car-loan data of examples/data/car_loan. [sample NAME] sections select rows: file
(reference or analysis, whose labels come from the target file by id), timestamps in
[start, end) compared as text, and at most `limit` rows in file order. Classification uses
y_pred_proba as the score and repaid as the label, regression y_pred_proba as the prediction
and repaid as the truth, both from scikit-learn. Drift sections compare one feature of two
samples as numeric_drift.txt and categorical_drift.txt do; repaid_loan_on_prev_car becomes the
categories true and false. Written by generate.py.
""")
    rows = car_loan_rows()
    samples = {}
    for name, (file, start, end, limit) in CAR_LOAN_SAMPLES.items():
        samples[name] = select(rows[file], start, end, limit)
        fields = {"file": file, "start": start, "end": end}
        if limit:
            fields["limit"] = limit
        fields["rows"] = len(samples[name])
        out.section(f"sample {name}", fields)

    for name in ["reference", "jan", "jun"]:
        scores = [float(row["y_pred_proba"]) for row in samples[name]]
        labels = [row["label"] for row in samples[name]]
        fields = {"sample": name, "threshold": number(THRESHOLD)}
        fields.update(binary_figures(scores, labels, THRESHOLD))
        out.section(f"classification {name}", fields)

        truths = [1.0 if label else 0.0 for label in labels]
        fields = {"sample": name}
        fields.update(regression_figures(scores, truths))
        out.section(f"regression {name}", fields)

    for reference, window in DRIFT_PAIRS:
        for feature in NUMERIC_FEATURES:
            values = [[float(row[feature]) for row in samples[s]] for s in (reference, window)]
            fields = {"reference": reference, "window": window, "feature": feature}
            fields.update(numeric_figures(*values))
            out.section(f"numeric {reference} {window} {feature}", fields)
        for feature in CATEGORICAL_FEATURES:
            values = [[category_key(feature, row[feature]) for row in samples[s]]
                      for s in (reference, window)]
            fields = {"reference": reference, "window": window, "feature": feature}
            fields.update(categorical_figures(*values))
            out.section(f"categorical {reference} {window} {feature}", fields)
    out.write()


def main():
    check_versions()
    rng = np.random.default_rng(20_240_601)
    write_special()
    write_binary(rng)
    write_regression(rng)
    write_numeric(rng)
    write_categorical(rng)
    write_car_loan()


if __name__ == "__main__":
    main()
