"""CSV export of KPI reports, rankings and load curves, in two forms (docs/kpis.md, "CSV").

- **people** (the default of `format=csv`): UTF-8 with a byte-order mark (so that Excel and WPS
  read Chinese correctly), every value rounded to its unit's decimals (central.unit_decimals, the
  table the dashboard rounds with), a header row in the chosen language (`lang=zh|en`,
  COLUMN_LABELS), CRLF line ends, and text cells that a spreadsheet would run as a formula
  (starting with = + - @, tab or CR) prefixed with `'`.
- **machine** (`csv=machine`): the header `name [unit]`, values at full precision, no BOM, LF,
  text as stored: for programs, stable across releases.

Both forms are written from the same Table, so their columns and rows cannot drift apart.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response

from central.kpi.reasons import Reason
from central.kpi.report import RankedSite, Row
from central.kpi.values import CATALOGUE, Quality
from central.unit_decimals import fixed

Lang = Literal["zh", "en"]
CsvStyle = Literal["people", "machine"]
LangQuery = Annotated[Lang, Query(description="CSV for people: language of the header row")]
CsvQuery = Annotated[
    CsvStyle,
    Query(
        alias="csv",
        description="with format=csv: 'people' (UTF-8 BOM, rounded, header in lang) or "
        "'machine' (names with units, full precision, no BOM)",
    ),
]
BOM = "\ufeff"

# Units as people read them; absent: the unit as it is.
_UNIT_LABELS: dict[Lang, dict[str, str]] = {
    "en": {"m3": "m³", "m3/meal": "m³/meal", "kgce/m2": "kgce/m²", "kgce/m2/year": "kgce/m²/year",
           "kgCO2e": "kg CO₂e", "kgCO2": "kg CO₂", "kgCO2/meal": "kg CO₂/meal"},
    "zh": {"persons": "人", "trays": "盘", "readings": "条", "count": "个", "ms": "毫秒",
           "g": "克", "g/diner": "克/人", "CNY": "元", "kgCO2e": "千克二氧化碳当量",
           "kWh": "千瓦时", "m3": "立方米", "kW": "千瓦", "kWh/meal": "千瓦时/餐",
           "m3/meal": "立方米/餐", "L/meal": "升/餐", "kgce": "千克标煤",
           "kgce/meal": "千克标煤/餐",
           "kgCO2": "千克二氧化碳", "kgCO2/meal": "千克二氧化碳/餐", "kgce/m2": "千克标煤/平方米",
           "kgce/m2/year": "千克标煤/平方米/年", "kgce/person": "千克标煤/人",
           "kgce/person/year": "千克标煤/人/年"},
}  # fmt: skip

# Header labels of every column, (en, zh), by the machine form's column name (without unit).
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    # report and ranking columns
    "scope": ("Scope", "范围"),
    "label": ("Period", "时段"),
    "start": ("Start", "开始"),
    "end": ("End", "结束"),
    "service": ("Meal service", "餐次"),
    "factor_sets": ("Factor sets", "折算系数集"),
    "rank": ("Rank", "排名"),
    "site": ("Canteen id", "食堂编号"),
    "name": ("Canteen", "食堂"),
    "reason": ("Why no value", "无数值原因"),
    "reason_code": ("Why no value (code)", "无数值原因代码"),
    # dishes (central/api/dishes.py)
    "item": ("Dish", "菜品"),
    "loss_reason": ("Loss reason", "损耗原因"),
    "known": ("On the menu", "在菜单中"),
    "name_zh": ("Name (Chinese)", "中文名称"),
    "name_en": ("Name (English)", "英文名称"),
    "category": ("Category", "类别"),
    "mass": ("Waste", "浪费量"),
    "weighings": ("Weighings", "称重次数"),
    "share": ("Share of waste", "占比"),
    "value": ("Value", "价值"),
    "co2e": ("CO₂e", "碳排放当量"),
    # KPIs (central/kpi/values.py, CATALOGUE)
    "diners": ("Diners", "就餐人数"),
    "attendance_pct": ("Attendance", "就餐率"),
    "trays": ("Trays", "餐盘数"),
    "clean_plates": ("Clean plates", "光盘数"),
    "clean_plate_rate_pct": ("Clean-plate rate", "光盘率"),
    "plate_waste_g": ("Plate waste", "餐盘剩余"),
    "prep_waste_g": ("Preparation waste", "备餐损耗"),
    "overproduction_waste_g": ("Overproduction", "剩余饭菜"),
    "spoilage_waste_g": ("Spoilage", "变质损耗"),
    "plate_waste_per_diner_g": ("Plate waste per diner", "人均餐盘剩余"),
    "prep_waste_per_diner_g": ("Preparation waste per diner", "人均备餐损耗"),
    "overproduction_per_diner_g": ("Overproduction per diner", "人均剩余饭菜"),
    "spoilage_per_diner_g": ("Spoilage per diner", "人均变质损耗"),
    "waste_per_diner_g": ("Food waste per diner", "人均食物浪费"),
    "waste_rate_pct": ("Waste rate", "浪费率"),
    "waste_value_cny": ("Value of food wasted", "浪费食物价值"),
    "waste_co2e_kg": ("CO₂e of food wasted", "浪费食物碳排放"),
    "waste_change_vs_baseline_pct": ("Waste change vs baseline", "浪费较基准变化"),
    "electricity_kwh": ("Electricity", "用电量"),
    "gas_m3": ("Gas", "用气量"),
    "water_m3": ("Water", "用水量"),
    "electricity_kwh_per_meal": ("Electricity per meal", "每餐用电"),
    "gas_m3_per_meal": ("Gas per meal", "每餐用气"),
    "water_l_per_meal": ("Water per meal", "每餐用水"),
    "energy_kgce": ("Energy", "综合能耗"),
    "energy_kgce_per_meal": ("Energy per meal", "每餐综合能耗"),
    "co2_kg": ("CO₂ of energy", "能源碳排放"),
    "co2_kg_per_meal": ("CO₂ of energy per meal", "每餐能源碳排放"),
    "energy_kgce_per_m2": ("Energy per m² of floor area", "单位建筑面积能耗"),
    "energy_kgce_per_m2_year": ("Energy per m² and year", "单位建筑面积年能耗"),
    "energy_kgce_per_staff": ("Energy per staff member", "人均综合能耗"),
    "energy_kgce_per_staff_year": ("Energy per staff member and year", "人均年综合能耗"),
    "quota_use_pct": ("Energy quota used", "能耗定额使用率"),
    "off_hours_energy_kgce": ("Off-hours energy", "非营业时段能耗"),
    "off_hours_electricity_kwh": ("Off-hours electricity", "非营业时段用电"),
    "off_hours_gas_m3": ("Off-hours gas", "非营业时段用气"),
    "off_hours_water_m3": ("Off-hours water", "非营业时段用水"),
    "off_hours_share_pct": ("Off-hours share of energy", "非营业时段能耗占比"),
    "peak_demand_kw": ("Peak demand", "最大需量"),
    # data quality (central/kpi/values.py, Quality)
    "quality.completeness_pct": ("Meter data completeness", "计量数据完整率"),
    "quality.meter_readings_received": ("Meter readings received", "已收计量读数"),
    "quality.meter_readings_expected": ("Meter readings expected", "应收计量读数"),
    "quality.estimated_share_pct": ("Estimated share of energy", "估算能耗占比"),
    "quality.estimated_kgce": ("Estimated energy", "估算能耗"),
    "quality.estimated_electricity_kwh": ("Estimated electricity", "估算用电"),
    "quality.estimated_gas_m3": ("Estimated gas", "估算用气"),
    "quality.estimated_water_m3": ("Estimated water", "估算用水"),
    "quality.readings_stored": ("Readings stored", "已存读数"),
    "quality.duplicates_dropped": ("Duplicates dropped", "丢弃的重复读数"),
    "quality.duplicate_share_pct": ("Duplicate share", "重复读数占比"),
    "quality.clock_skew_median_ms": ("Clock skew (median)", "时钟偏差（中位数）"),
    "quality.clock_skew_p95_abs_ms": ("Clock skew (95th pct.)", "时钟偏差（95分位）"),
    "quality.clock_corrected": ("Readings with corrected time", "时间已校正的读数"),
    "quality.resets": ("Meter counter resets", "计量表计数器复位"),
    "quality.wraps": ("Meter counter rollovers", "计量表计数器溢出回零"),
    "quality.spikes": ("Meter spikes removed", "剔除的计量突增"),
    "quality.dips": ("Meter dips removed", "剔除的计量回落"),
    "quality.gaps": ("Meter gaps estimated", "估算的计量缺口"),
    "quality.exchanges": ("Meter exchanges", "计量表更换"),
    "quality.scale_rejected_below_division": ("Scale readings < 1 division", "低于分度值的称重"),
    "quality.scale_rejected_above_max": ("Scale readings above capacity", "超出量程的称重读数"),
    "quality.repeat_swipes": ("Repeat card swipes", "重复刷卡"),
    "quality.raw_bin_emptyings": ("Bin emptyings", "废弃桶清空次数"),
    "quality.raw_bin_auto_zeros": ("Bin auto-zero steps", "废弃桶自动归零"),
    "quality.raw_bin_unstable_ignored": ("Unstable bin readings ignored", "忽略的不稳定称重"),
    "quality.raw_bin_negative_steps": ("Negative bin steps", "废弃桶负向变化"),
    # load curve
    "electricity": ("Electricity", "用电量"),
    "gas": ("Gas", "用气量"),
    "water": ("Water", "用水量"),
    "electricity_estimated": ("Electricity, estimated part", "用电量（估算部分）"),
    "gas_estimated": ("Gas, estimated part", "用气量（估算部分）"),
    "water_estimated": ("Water, estimated part", "用水量（估算部分）"),
}  # fmt: skip

# Cell values of ours that people read (the registry's own names, such as services, stay).
_VALUE_LABELS: dict[str, tuple[str, str]] = {
    "total": ("total", "合计"),
    # loss reasons of kitchen weighings (contract.units.LossReason)
    "trim": ("trimmings", "边角料"),
    "spoiled": ("spoiled", "变质"),
    "expired": ("expired", "过期"),
    "overproduced": ("overproduced", "做多了"),
    "dropped": ("dropped or burnt", "掉落或烧焦"),
    "returned": ("returned", "退回"),
    "other": ("other", "其他"),
}

# unit of each quality figure, for the column names
_QUALITY_UNITS = {
    "completeness_pct": "%",
    "meter_readings_received": "readings",
    "meter_readings_expected": "readings",
    "estimated_share_pct": "%",
    "estimated_kgce": "kgce",
    "estimated_electricity_kwh": "kWh",
    "estimated_gas_m3": "m3",
    "estimated_water_m3": "m3",
    "readings_stored": "readings",
    "duplicates_dropped": "readings",
    "duplicate_share_pct": "%",
    "clock_skew_median_ms": "ms",
    "clock_skew_p95_abs_ms": "ms",
    "clock_corrected": "readings",
}
QUALITY_COLUMNS = tuple(f.name for f in fields(Quality))
# A text cell starting with one of these is a formula to Excel, WPS and LibreOffice (OWASP,
# "CSV Injection"): the people form prefixes it with an apostrophe, shown as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _unit_of_quality(name: str) -> str:
    return _QUALITY_UNITS.get(name, "count")


@dataclass(frozen=True, slots=True)
class Column:
    """One CSV column: its machine name, the unit of its numbers (None: a text column), and
    whose values are codes of ours to translate (`translate`)."""

    name: str
    unit: str | None = None
    translate: bool = False

    def header(self, style: CsvStyle, lang: Lang) -> str:
        if style == "machine":
            return self.name if self.unit is None else f"{self.name} [{self.unit}]"
        # A column added without labels keeps its machine name (a test demands labels for all).
        en, zh = COLUMN_LABELS.get(self.name, (self.name, self.name))
        label = zh if lang == "zh" else en
        if self.unit is None:
            return label
        return f"{label} [{_UNIT_LABELS[lang].get(self.unit, self.unit)}]"


@dataclass(frozen=True, slots=True)
class Table:
    """Columns and rows of raw values, written in either form by `render`."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[object]]

    def render(self, style: CsvStyle = "machine", lang: Lang = "en") -> str:
        out = io.StringIO()
        if style == "machine":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([c.header(style, lang) for c in self.columns])
            for row in self.rows:
                writer.writerow([_for_machines(value) for value in row])
            return out.getvalue()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.header(style, lang) for c in self.columns])
        for row in self.rows:
            writer.writerow(
                [_for_people(c, value, lang) for c, value in zip(self.columns, row, strict=True)]
            )
        return BOM + out.getvalue()


def _for_machines(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Reason):
        return value.text
    return value


def _for_people(column: Column, value: object, lang: Lang) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if column.unit is None:
            return str(value)
        return fixed(value, column.unit)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = value.in_lang(lang) if isinstance(value, Reason) else str(value)
    if column.translate and text in _VALUE_LABELS:
        en, zh = _VALUE_LABELS[text]
        text = zh if lang == "zh" else en
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _kpi_columns() -> list[Column]:
    return [Column(name, unit) for name, (_, unit) in CATALOGUE.items()] + [
        Column(f"quality.{name}", _unit_of_quality(name)) for name in QUALITY_COLUMNS
    ]


def _kpi_cells(row: Row) -> list[object]:
    return [row.kpis[name].value for name in CATALOGUE] + [
        getattr(row.quality, name) for name in QUALITY_COLUMNS
    ]


def report_columns() -> list[Column]:
    return [
        Column("scope"), Column("label"), Column("start"), Column("end"),
        Column("service", translate=True), Column("factor_sets"), *_kpi_columns(),
    ]  # fmt: skip


def report_table(scope: str, rows: Sequence[Row], total: Row) -> Table:
    """One line per row and a last line for the period's total (service column 'total')."""
    lines = [(r, r.service or "") for r in rows] + [(total, "total")]
    return Table(
        report_columns(),
        [
            [scope, row.label, row.first.isoformat(), row.last.isoformat(), service,
             " ".join(row.factor_sets), *_kpi_cells(row)]
            for row, service in lines
        ],
    )  # fmt: skip


def ranking_columns(kpi: str) -> list[Column]:
    _, unit = CATALOGUE[kpi]
    return [
        Column("rank"), Column("site"), Column("name"), Column(kpi, unit),
        Column("reason"), Column("reason_code"),
        *(Column(f"quality.{name}", _unit_of_quality(name)) for name in QUALITY_COLUMNS),
    ]  # fmt: skip


def ranking_table(kpi: str, ranked: Sequence[RankedSite]) -> Table:
    return Table(
        ranking_columns(kpi),
        [
            [r.rank, r.site, r.name, r.value.value, r.value.why, r.value.reason_code]
            + [getattr(r.quality, name) for name in QUALITY_COLUMNS]
            for r in ranked
        ],
    )


def csv_response(
    table: Table, filename: str, style: CsvStyle = "people", lang: Lang = "en"
) -> Response:
    return Response(
        content=table.render(style, lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
