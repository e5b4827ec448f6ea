"""Why a KPI has no value: every code of the one table (central/kpi/reasons.json) has its text in
English and Chinese, and central (the API's `reason`, the monthly report, the CSV) and the
dashboard (dashboard/src/i18n.js reasonText, the tooltip of a missing value) say the same."""

import re

import pytest

from central.kpi import values
from central.kpi.reasons import (
    ALSO,
    CODES,
    NOTE,
    PARAM_TEXTS,
    TEXTS,
    Reason,
    joined,
    no_quota,
    not_configured,
    render,
)
from contract import Quantity
from tests.dashboard_node import run_dashboard_script

CJK = re.compile(r"[\u3400-\u9fff]")
# every parameter a reason's text can hold; `key` is a registry key, shown as written, and so are
# the forecast notes' counts and dates; `note` is the code of a further note (NOTE)
PARAMETERS = {"quantity", "key", "scope", "days", "min_workdays", "date", "first", "last", "years",
              "tables", NOTE}  # fmt: skip
# a value as given for each parameter shown as written
AS_GIVEN = {
    "key": "food_price_cny_per_kg", "days": "28", "min_workdays": "5", "date": "2027-01-04",
    "first": "2027-01-01", "last": "2027-01-05", "years": "2027",
    "tables": "[calendar.2027]",
}  # fmt: skip
# the notes a forecast without diners gives, which a recommendation's `no_forecast` holds
FORECAST_NOTES = ("forecast_no_history", "forecast_few_workdays")


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{(\w+)\}", text))


def cases() -> list[tuple[str, dict[str, str]]]:
    """Every code with every value of its listed parameters, a registry key, and joined codes."""
    out: list[tuple[str, dict[str, str]]] = []
    for code in CODES:
        params = placeholders(TEXTS[code]["en"])
        variants: list[dict[str, str]] = [{}]
        if "quantity" in params:
            variants = [{"quantity": q} for q in PARAM_TEXTS["quantity"]]
        given = {name: AS_GIVEN[name] for name in params if name in AS_GIVEN}
        variants = [{**v, **given} for v in variants]
        if NOTE in params:
            variants = [
                {**v, NOTE: note, **{n: AS_GIVEN[n] for n in placeholders(TEXTS[note]["en"])}}
                for v in variants
                for note in FORECAST_NOTES
            ]
        if "scope" in params:
            variants = [*variants, *({**v, "scope": "region"} for v in variants)]
        out += [(code, v) for v in variants]
    out.append(("no_quota", {ALSO: "quota_span,period_not_started"}))
    return out


def test_every_code_has_both_texts_with_the_same_known_parameters() -> None:
    assert len(CODES) == len(set(CODES)) >= 15
    for code in CODES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        en, zh = TEXTS[code]["en"], TEXTS[code]["zh"]
        assert en, code
        assert not CJK.search(en), code
        assert CJK.search(zh), code
        assert placeholders(en) == placeholders(zh), code
        assert set(placeholders(en)) <= PARAMETERS, code
    for name, table in PARAM_TEXTS.items():
        assert name in PARAMETERS
        for value, texts in table.items():
            assert set(texts) == {"en", "zh"}, (name, value)
    assert set(PARAM_TEXTS["quantity"]) == {q.value for q in Quantity}


def test_the_server_builds_reasons_of_the_table_only_and_keeps_its_english_texts() -> None:
    with pytest.raises(ValueError, match=r"reasons\.json"):
        Reason("no_such_reason")
    assert values.NO_METER[Quantity.WATER].text == "no water meter"
    assert values.NO_ENERGY.text == "no electricity or gas meter"
    assert values.NO_DINERS.text == "no diners in this row"
    assert not_configured("baseline").text == "baseline is not configured"
    assert not_configured("floor_area_m2", True).text == (
        "floor_area_m2 is not configured for every site"
    )
    assert not_configured("floor_area_m2", True).params_json == {
        "key": "floor_area_m2", "scope": "region"
    }  # fmt: skip
    assert no_quota(True).text == (
        "no energy quota configured (energy_quota_kgce_month, energy_quota_kgce_year)"
        " for every site"
    )
    assert render("no_meter", {"quantity": "gas"}, "zh") == "没有燃气表"


def test_joined_reasons_keep_one_code_and_list_the_others() -> None:
    a, b = no_quota(), Reason("quota_span")
    assert joined([]) is None
    assert joined([b, b]) == b
    assert joined([a]) == no_quota(True)  # a region: not every site has one
    both = joined([b, a, b])
    assert both is not None
    assert (both.code, both.params_json) == ("no_quota", {"scope": "region", ALSO: "quota_span"})
    assert both.text == f"{no_quota(True).text}; {b.text}"


def dashboard_texts(asked: list[tuple[str, dict[str, str]]]) -> dict[str, list[str]]:
    script = """
globalThis.document = { documentElement: {} };
globalThis.sessionStorage = { getItem: () => null, setItem: () => {} };
const { noteText, reasonText, setLanguage } = await import(`${process.argv[1]}/i18n.js`);
const cases = JSON.parse(process.argv[2]);
const out = {};
for (const lang of ["en", "zh"]) {
  setLanguage(lang);
  out[lang] = cases.map(([code, params]) =>
    reasonText({ reason: "server", reason_code: code, reason_params: params }));
  out[`${lang}_note`] = cases.map(([code, params]) =>
    noteText({ note: "server", note_code: code, note_params: params }));
}
console.log(JSON.stringify(out));
"""
    result: dict[str, list[str]] = run_dashboard_script(script, asked)
    return result


def test_the_dashboard_shows_every_code_as_central_renders_it_in_both_languages() -> None:
    asked = cases()
    shown = dashboard_texts(asked)
    for lang in ("en", "zh"):
        expected = [Reason(code, tuple(p.items())).in_lang(lang) for code, p in asked]
        assert shown[lang] == expected
        assert shown[f"{lang}_note"] == expected  # the kitchen view's notes: the same rendering
    assert "没有电表" in shown["zh"]
    assert "有食堂未配置 food_price_cny_per_kg" in shown["zh"]


def test_a_recommendation_without_a_forecast_says_why_in_the_forecast_notes_words() -> None:
    few = Reason("forecast_few_workdays", (("min_workdays", "5"), ("days", "20")))
    reason = Reason("no_forecast", ((NOTE, few.code), *few.params))
    assert reason.text == f"no diner forecast: {few.text}"
    assert (
        reason.in_lang("zh")
        == "无就餐人数预测：近 20 天内有人就餐的工作日少于 5 天：历史数据不足，无法预测"
    )
    with pytest.raises(ValueError, match=r"reasons\.json"):
        Reason("no_forecast", ((NOTE, "no_such_note"),))
