"""The monthly report's words in Chinese and English: headings, KPI names, units, alert kinds."""

from typing import Literal

from central.unit_decimals import fixed

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

MISSING = "—"  # a figure that is missing: never 0

TEXT: dict[str, tuple[str, str]] = {  # key -> (zh, en)
    "title": ("{scope}月度报告 {month}", "Monthly report {month}: {scope}"),
    "region_scope": ("区域 {tag}", "region {tag}"),
    "generated": ("生成时间 {at}（UTC）", "Generated {at} (UTC)"),
    "sites": ("包含食堂", "Canteens"),
    "period": ("统计期", "Period"),
    "summary": ("概要", "Summary"),
    "waste": ("分类浪费", "Waste by stream"),
    "energy": ("能耗", "Energy"),
    "quota": ("定额使用", "Quota use"),
    "quality": ("数据质量", "Data quality"),
    "alerts": ("告警", "Alerts"),
    "by_site": ("各食堂", "Canteens"),
    "kpi": ("指标", "Indicator"),
    "unit": ("单位", "Unit"),
    "this_month": ("本月", "This month"),
    "previous_month": ("上月（{month}）", "Previous month ({month})"),
    "last_year": ("去年同月（{month}）", "Same month last year ({month})"),
    "mom": ("环比", "Change vs previous month"),
    "yoy": ("同比", "Change vs last year"),
    "target": ("目标", "Target"),
    "date": ("日期", "Date"),
    "total": ("合计", "Total"),
    "no_data": ("{month}无数据", "no data for {month}"),
    "scope_of": ("范围", "Scope"),
    "used": ("已用", "Used"),
    "quota_kgce": ("定额", "Quota"),
    "month_row": ("本月", "The month"),
    "ytd_row": ("本年截至月底", "Year to month end"),
    "device": ("设备", "Device"),
    "kind": ("类型", "Kind"),
    "readings": ("读数", "Readings"),
    "expected": ("应有读数", "Expected"),
    "completeness": ("完整率", "Completeness"),
    "site": ("食堂", "Canteen"),
    "value": ("数值", "Value"),
    "threshold": ("阈值", "Threshold"),
    "message": ("说明", "Message"),
    "acked_by": ("确认人", "Acknowledged by"),
    "acked_at": ("确认时间（UTC）", "Acknowledged at (UTC)"),
    "open": ("未确认", "open"),
    "no_alerts": ("本月无告警。", "No alerts this month."),
    "change_pp": ("百分点", "pp"),
    "figure": ("项目", "Figure"),
    "print": ("打印", "Print"),
    "missing_note": (
        "“—”表示无数据或无法计算，不是0。环比、同比为相对变化（%），百分比指标为百分点差。",
        "“—” marks a missing figure (no data, or not computable), never 0. Changes are relative"
        " (%); for figures in % they are the difference in percentage points.",
    ),
}

KPI_NAMES: dict[str, tuple[str, str]] = {
    "diners": ("就餐人次", "Diners"),
    "attendance_pct": ("就餐率", "Attendance"),
    "plate_waste_g": ("餐盘浪费", "Plate waste"),
    "prep_waste_g": ("备餐损耗", "Preparation waste"),
    "overproduction_waste_g": ("剩餐", "Overproduction"),
    "spoilage_waste_g": ("变质损耗", "Spoilage"),
    "plate_waste_per_diner_g": ("人均餐盘浪费", "Plate waste per diner"),
    "prep_waste_per_diner_g": ("人均备餐损耗", "Preparation waste per diner"),
    "overproduction_per_diner_g": ("人均剩餐", "Overproduction per diner"),
    "spoilage_per_diner_g": ("人均变质损耗", "Spoilage per diner"),
    "waste_per_diner_g": ("人均浪费", "Waste per diner"),
    "clean_plate_rate_pct": ("光盘率", "Clean-plate rate"),
    "waste_value_cny": ("浪费金额", "Waste value"),
    "waste_co2e_kg": ("浪费碳排放", "Waste CO2e"),
    "electricity_kwh": ("用电量", "Electricity"),
    "gas_m3": ("用气量", "Gas"),
    "water_m3": ("用水量", "Water"),
    "electricity_kwh_per_meal": ("每餐用电", "Electricity per meal"),
    "gas_m3_per_meal": ("每餐用气", "Gas per meal"),
    "water_l_per_meal": ("每餐用水", "Water per meal"),
    "energy_kgce": ("综合能耗", "Energy"),
    "energy_kgce_per_meal": ("每餐能耗", "Energy per meal"),
    "energy_kgce_per_m2": ("单位建筑面积能耗", "Energy per m² of floor area"),
    "energy_kgce_per_staff": ("人均综合能耗", "Energy per staff member"),
    "co2_kg": ("能源碳排放", "Energy CO2"),
    "quota_use_pct": ("定额使用率", "Quota use"),
    "off_hours_share_pct": ("非营业时段能耗占比", "Off-hours energy share"),
    "peak_demand_kw": ("最大需量", "Peak demand"),
    # data quality (GET /kpis quality)
    "completeness_pct": ("计量数据完整率", "Meter data completeness"),
    "estimated_share_pct": ("估算能耗占比", "Estimated share of energy"),
    "duplicate_share_pct": ("重复读数占比", "Duplicate share"),
    "readings_stored": ("已存读数", "Readings stored"),
    "duplicates_dropped": ("丢弃的重复读数", "Duplicates dropped"),
    "clock_corrected": ("时钟校正读数", "Readings with a corrected clock"),
    "resets": ("计数器归零", "Meter resets"),
    "wraps": ("计数器翻转", "Meter wraps"),
    "spikes": ("尖峰", "Spikes"),
    "dips": ("回落", "Dips"),
    "gaps": ("数据缺口", "Gaps"),
    "exchanges": ("换表", "Meter exchanges"),
    "scale_rejected_below_division": ("低于分度值的称重", "Weighings below the division"),
    "scale_rejected_above_max": ("超量程的称重", "Weighings above the maximum"),
}

UNITS: dict[str, tuple[str, str]] = {
    "persons": ("人次", "persons"),
    "%": ("%", "%"),
    "g": ("克", "g"),
    "g/diner": ("克/人", "g/diner"),
    "CNY": ("元", "CNY"),
    "kgCO2e": ("千克二氧化碳当量", "kg CO2e"),
    "kgCO2": ("千克二氧化碳", "kg CO2"),
    "kWh": ("千瓦时", "kWh"),
    "m3": ("立方米", "m³"),
    "kWh/meal": ("千瓦时/餐", "kWh/meal"),
    "m3/meal": ("立方米/餐", "m³/meal"),
    "L/meal": ("升/餐", "L/meal"),
    "kgce": ("千克标准煤", "kgce"),
    "kgce/meal": ("千克标准煤/餐", "kgce/meal"),
    "kgce/m2": ("千克标准煤/平方米", "kgce/m²"),
    "kgce/person": ("千克标准煤/人", "kgce/person"),
    "kW": ("千瓦", "kW"),
    "count": ("个", "count"),
    "min": ("分钟", "min"),
    "messages": ("条", "messages"),
}

ALERT_KINDS: dict[str, tuple[str, str]] = {
    "quota_month": ("本月能耗超定额", "Monthly energy quota exceeded"),
    "quota_year": ("本年能耗超定额", "Yearly energy quota exceeded"),
    "waste_target": ("人均浪费超目标", "Waste per diner above target"),
    "off_hours": ("非营业时段能耗过高", "Off-hours energy share too high"),
    "device_silent": ("设备无数据", "Device silent"),
    "device_offline": ("设备离线", "Device offline"),
    "edge_lost_readings": ("边缘网关丢失读数", "Edge lost readings"),
}


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "zh" else pair[1]


def text(key: str, lang: Lang, **values: str) -> str:
    return _pick(TEXT[key], lang).format(**values)


def kpi_name(name: str, lang: Lang) -> str:
    return _pick(KPI_NAMES[name], lang)


def unit_name(unit: str, lang: Lang) -> str:
    return _pick(UNITS[unit], lang) if unit in UNITS else unit


def alert_kind(kind: str, lang: Lang) -> str:
    return _pick(ALERT_KINDS[kind], lang) if kind in ALERT_KINDS else kind


def formatted(value: float | None, unit: str) -> str:
    """A figure as printed: fixed decimals per unit, thousands separated; missing as —."""
    if value is None:
        return MISSING
    return fixed(value, unit, grouped=True)
