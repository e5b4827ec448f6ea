"""Why a KPI has no value: a stable code with parameters, and its text in English and Chinese.

One table, `reasons.json` beside this module, holds every code and its texts: central renders the
API's English `reason` and the monthly report's notes from it, and the dashboard bundles the same
JSON (dashboard/src/i18n.js) to show a missing value's `reason_code` in the page's language.
Parameters are part of a code's text, not new codes: the quantity of a missing meter, the registry
key that is not configured, `scope` "region" for a row of several sites; `note` names the code of a
further text rendered in its place (a production recommendation without a forecast says why there
is none). The diner forecast's and production recommendation's notes (central.kpi.forecast,
central.kpi.production) are codes of the same table. A region's row whose
sites lack a value for different reasons carries the first (by English text) as its code and the
others' codes in the parameter `also` (docs/kpis.md).
"""

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Literal

Lang = Literal["zh", "en"]
ALSO = "also"  # parameter: the codes of further reasons, comma-separated
NOTE = "note"  # parameter: the code of a further note, rendered in its place with the others

_TABLE: dict[str, Any] = json.loads(
    files("central.kpi").joinpath("reasons.json").read_text(encoding="utf-8")
)
TEXTS: Mapping[str, Mapping[str, str]] = _TABLE["reasons"]
PARAM_TEXTS: Mapping[str, Mapping[str, Mapping[str, str]]] = _TABLE["params"]
SEPARATOR: Mapping[str, str] = _TABLE["separator"]
CODES: tuple[str, ...] = tuple(TEXTS)


class _Blank(dict[str, str]):
    """Format values where a parameter that is not given reads as nothing (`scope` of a site)."""

    def __missing__(self, key: str) -> str:
        return ""


def render(code: str, params: Mapping[str, str], lang: Lang = "en") -> str:
    """The text of reason `code` with `params` in `lang` (a parameter value listed in the table's
    `params` in that language, any other as given)."""
    values = _Blank(
        {
            name: PARAM_TEXTS.get(name, {}).get(value, {}).get(lang, value)
            for name, value in params.items()
            if name not in (ALSO, NOTE)
        }
    )
    note = params.get(NOTE)
    if note:
        values[NOTE] = render(note, {k: v for k, v in params.items() if k != NOTE}, lang)
    text = TEXTS[code][lang].format_map(values)
    also = params.get(ALSO)
    if not also:
        return text
    more = (TEXTS[c][lang].format_map(_Blank()) for c in also.split(","))
    return SEPARATOR[lang].join((text, *more))


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a KPI has no value: a code of reasons.json and its parameters; `text` is English."""

    code: str
    params: tuple[tuple[str, str], ...] = ()
    text: str = field(init=False, compare=False, repr=False)
    # the parameters as the API gives them (shared by every value with this reason: read only)
    params_json: dict[str, str] = field(init=False, compare=False, repr=False)
    # computed once: every missing value of a report looks its KpiValue up by reason
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        params = dict(self.params)
        for code in (self.code, params.get(NOTE, self.code)):
            if code not in TEXTS:
                raise ValueError(f"reason code {code!r} is not in central/kpi/reasons.json")
        object.__setattr__(self, "params_json", params)
        object.__setattr__(self, "text", render(self.code, params))
        object.__setattr__(self, "_hash", hash((self.code, self.params)))

    def __hash__(self) -> int:
        return self._hash

    def in_lang(self, lang: Lang) -> str:
        return render(self.code, self.params_json, lang)

    @staticmethod
    def of(code: str, params: Mapping[str, str] | None) -> "Reason":
        """The reason of an API value's `reason_code` and `reason_params`."""
        return Reason(code, tuple((params or {}).items()))


def _scoped(region: bool) -> tuple[tuple[str, str], ...]:
    return (("scope", "region"),) if region else ()


@functools.cache
def not_configured(key: str, region: bool = False) -> Reason:
    """Registry key `key` is not set (for a region: not for every one of its sites)."""
    return Reason("not_configured", (("key", key), *_scoped(region)))


@functools.cache
def no_quota(region: bool = False) -> Reason:
    return Reason("no_quota", _scoped(region))


def joined(reasons: Iterable[Reason]) -> Reason | None:
    """The reason of a region's row for its sites' reasons: the first by text, for every site
    (`scope` "region" where its text has a scope), with the others' codes in `also` (their
    parameters are dropped: the site reasons joined here have none)."""
    distinct = sorted(set(reasons), key=lambda r: r.text)
    if not distinct:
        return None
    first, rest = distinct[0], distinct[1:]
    params = dict(first.params)
    if "{scope}" in TEXTS[first.code]["en"]:
        params["scope"] = "region"
    if rest:
        params[ALSO] = ",".join(r.code for r in rest)
    return Reason(first.code, tuple(params.items()))
