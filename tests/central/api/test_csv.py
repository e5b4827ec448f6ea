"""CSV for people (UTF-8 BOM, rounded per unit, header in zh or en, formula-safe) beside the
machine form (names with units, full precision, no BOM), on a real in-process central."""

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from central.api.csv_export import (
    BOM,
    COLUMN_LABELS,
    Column,
    Table,
    ranking_columns,
    report_columns,
)
from central.kpi.values import CATALOGUE
from central.unit_decimals import UNIT_DECIMALS
from tests.central.api.test_kpis import REGISTRY, electricity, local
from tests.central.conftest import admin_client, card, ingest, scale

# s2's name is a formula, as somebody may type it into the registry.
FORMULA_NAME = '=HYPERLINK(\\"http://x.test\\")'
KPIS = {"site": "s1", "period": "day", "date": "2026-11-20", "format": "csv"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    registry = REGISTRY.replace('id = "s2"\n', f'id = "s2"\nname = "{FORMULA_NAME}"\n')
    async with admin_client(registry, tmp_path) as http:
        # 3 diners, 100 g of plate waste: 33.333... g per diner; 10 kWh an hour for a day.
        readings = [card(i, local(11.5), i + 1) for i in range(3)] + [
            scale(i, local(12), "plate", mass) for i, mass in enumerate((40.0, 35.0, 25.0))
        ]
        await ingest(http, electricity(0, 24) + readings, "b1")
        yield http


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))


async def test_the_people_form_has_a_bom_rounded_values_and_an_english_header(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/kpis", params=KPIS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel and WPS read UTF-8
    assert response.text.startswith(BOM + "Scope,Period,Start,End,Meal service,")
    assert "\r\n" in response.text
    total = rows_of(response.text)[-1]
    assert total["Meal service"] == "total"
    assert total["Diners [persons]"] == "3"
    assert total["Food waste per diner [g/diner]"] == "33.3"  # g: 1 decimal
    assert total["Electricity [kWh]"] == "240.00"  # kWh: 2 decimals
    assert total["Energy per meal [kgce/meal]"] == "9.832"  # 240 × 0.1229 / 3 kgce
    assert total["Meter data completeness [%]"] == "100.0"


async def test_the_people_form_in_chinese(client: httpx.AsyncClient) -> None:
    text = (await client.get("/api/v1/kpis", params={**KPIS, "lang": "zh"})).text
    header = next(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert header[:6] == ["范围", "时段", "开始", "结束", "餐次", "折算系数集"]
    assert "就餐人数 [人]" in header
    assert "人均食物浪费 [克/人]" in header
    assert "用电量 [千瓦时]" in header
    total = rows_of(text)[-1]
    assert (total["范围"], total["餐次"]) == ("s1", "合计")
    assert total["人均食物浪费 [克/人]"] == "33.3"
    # Read back the way Excel does with a BOM: as UTF-8, Chinese intact.
    assert text.encode("utf-8").decode("utf-8-sig").startswith("范围,")


async def test_the_machine_form_is_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/kpis", params={**KPIS, "csv": "machine"})
    assert not response.content.startswith(b"\xef\xbb\xbf")
    assert "\r\n" not in response.text
    header = response.text.splitlines()[0].split(",")
    assert header[:6] == ["scope", "label", "start", "end", "service", "factor_sets"]
    assert header[6:8] == ["diners [persons]", "attendance_pct [%]"]
    total = rows_of(response.text)[-1]
    assert total["service"] == "total"
    assert float(total["waste_per_diner_g [g/diner]"]) == pytest.approx(100 / 3, rel=1e-12)
    assert len(total["waste_per_diner_g [g/diner]"]) > 10  # full precision


async def test_formulas_in_text_cells_are_neutralised_for_spreadsheets(
    client: httpx.AsyncClient,
) -> None:
    params = {"region": "province:Zhejiang", "kpi": "diners", "date": "2026-11-20"}
    people = await client.get("/api/v1/ranking", params={**params, "format": "csv"})
    names = {row["Canteen id"]: row["Canteen"] for row in rows_of(people.text)}
    assert names["s2"] == "'" + FORMULA_NAME.replace("\\", "")
    machine = await client.get(
        "/api/v1/ranking", params={**params, "format": "csv", "csv": "machine"}
    )
    names = {row["site"]: row["name"] for row in rows_of(machine.text)}
    assert names["s2"] == FORMULA_NAME.replace("\\", "")


def test_numbers_are_rounded_and_never_escaped_text_is() -> None:
    table = Table(
        [Column("label"), Column("waste_change_vs_baseline_pct", "%"), Column("rank")],
        [["-1+2", -12.345, -1], ["@SUM(A1)", 0.05, 2], ["+x", None, 3], ["\tz", 1e-9, 4]],
    )
    rows = list(csv.reader(io.StringIO(table.render("people", "en").removeprefix(BOM))))
    assert rows[1:] == [
        ["'-1+2", "-12.3", "-1"],
        ["'@SUM(A1)", "0.1", "2"],
        ["'+x", "", "3"],
        ["'\tz", "0.0", "4"],
    ]


def test_every_column_has_labels_in_both_languages_and_every_unit_a_precision() -> None:
    columns = [
        *report_columns(),
        *ranking_columns("diners"),
        *(Column(q) for q in ("electricity", "gas", "water")),
        *(Column(f"{q}_estimated") for q in ("electricity", "gas", "water")),
    ]
    for column in columns:
        en, zh = COLUMN_LABELS[column.name]
        assert en, column.name
        assert zh != en, column.name
        if column.unit is not None:
            assert column.unit in UNIT_DECIMALS, column.unit
    assert {unit for _, unit in CATALOGUE.values()} <= UNIT_DECIMALS.keys()
