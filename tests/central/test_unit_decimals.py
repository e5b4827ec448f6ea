"""One table of decimals per unit (central/unit_decimals.json): the API's CSV for people and the
dashboard (its page-built CSVs and its figures) round the same figure alike, halves included."""

import csv
import io

import numpy as np

from central.api.csv_export import Column, Table
from central.monthly_report.labels import formatted
from central.unit_decimals import OTHER_DECIMALS, UNIT_DECIMALS, decimals, fixed
from tests.dashboard_node import run_dashboard_script

# ordinary figures, halves at 0-4 decimals (12.5 g: Python's format gives 12, the page 13),
# negatives, zero and a figure above a thousand
FIGURES = (
    1234.56789, 12.5, 0.125, 2.675, 0.00005, -7.25, -0.04, 0.0, 3.0, 98765.4321,
    *((k + 0.5) / 10**d for d in range(5) for k in range(0, 200, 7)),  # halves at every place
    *(float(x) for x in np.random.default_rng(16).normal(0, 3000, 40).round(5)),
)  # fmt: skip
UNITS = (*UNIT_DECIMALS, "unit-without-a-rule")

# Rounds with the dashboard's own code: csv.js forPeople (its page-built CSVs) and format.js
# formatNumber (its figures, thousands separated), in both languages.
NODE_SCRIPT = """
globalThis.document = { documentElement: {} };
const src = process.argv[1];
const { forPeople } = await import(`${src}/csv.js`);
const { formatNumber } = await import(`${src}/format.js`);
const { setLanguage } = await import(`${src}/i18n.js`);
const cases = JSON.parse(process.argv[2]);
const [, [row]] = forPeople(cases.map(([unit], i) => `c${i} [${unit}]`), [cases.map(([, v]) => v)]);
const page = {};
for (const lang of ["en", "zh"]) {
  setLanguage(lang);
  page[lang] = cases.map(([unit, value]) => formatNumber(value, unit));
}
console.log(JSON.stringify({ csv: row, page }));
"""


def dashboard_rounding(cases: list[tuple[str, float]]) -> dict[str, object]:
    result: dict[str, object] = run_dashboard_script(NODE_SCRIPT, cases)
    return result


def test_the_api_csv_and_the_dashboard_round_every_unit_alike() -> None:
    cases = [(unit, value) for unit in UNITS for value in FIGURES]
    table = Table(
        [Column(f"c{i}", unit) for i, (unit, _) in enumerate(cases)], [[v for _, v in cases]]
    )
    rows = list(csv.reader(io.StringIO(table.render("people", "en").removeprefix("\ufeff"))))
    api = rows[1]
    dashboard = dashboard_rounding(cases)
    assert dashboard["csv"] == api
    page = dashboard["page"]
    assert isinstance(page, dict)
    for lang in ("en", "zh"):
        assert [text.replace(",", "") for text in page[lang]] == api, lang
    # the monthly report prints the same digits, thousands separated as the page
    assert [formatted(v, unit) for unit, v in cases] == page["en"]
    by_case = dict(zip(cases, api, strict=True))
    assert by_case[("g", 12.5)] == "13"  # half away from zero, not to even
    assert by_case[("g/diner", 2.675)] == "2.7"
    assert by_case[("CNY", 2.675)] == "2.68"  # as printed, though 2.67499999... as a float
    assert by_case[("%", -7.25)] == "-7.3"


def test_every_unit_has_a_whole_number_of_decimals() -> None:
    assert all(isinstance(d, int) and 0 <= d <= 6 for d in UNIT_DECIMALS.values())
    assert decimals("no such unit") == OTHER_DECIMALS == 2
    assert fixed(float("nan"), "g") == "nan"
