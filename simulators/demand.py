"""How many come to eat, what the kitchen cooks, and the day's menu (the simulated world).

- Working days follow mainland China's calendar, public holidays and adjusted working days (调休)
  included (contract.workcalendar: the registry's `[calendar.YYYY]` years, else the
  `chinesecalendar` package, else the plain week), the same calendar central forecasts with.
  Off days (weekends, holidays) draw the weekend share of the usual diners.
- A weekday pattern (Monday busiest, Friday quietest), meetings (on some working days a meeting
  brings extra diners to lunch) and noise (the rate varies +-10% per service and day, and each of
  the staff comes or not: a binomial draw).
- The kitchen's habit: it cooks for a fixed number of diners, the usual attendance of a working
  day (or of an off day), whatever the day brings; half of the portions cooked for diners who did
  not come comes back as overproduction (the rest goes into larger portions or the next meal), on
  top of an unavoidable remainder per diner. This is what a diner forecast can improve on.
- A menu per service and day: a few dishes drawn from the site's menu (the registry's
  `[[sites.menu]]` codes, else DEFAULT_DISHES); the kitchen terminal tags each overproduction pan
  with its dish and the reason `overproduced`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from contract.workcalendar import WorkCalendar


@dataclass(frozen=True, slots=True)
class Dish:
    """A dish of the simulated canteen's menu, as a `[[sites.menu]]` item describes it: the code
    its pans are tagged with, its names, and its category (one of central's, docs/kpis.md "Waste
    by dish and reason", which gives its default price and CO2e per kg)."""

    code: str
    name_zh: str
    name_en: str
    category: str


# The dishes a simulated canteen cooks when the registry lists no menu of its own; the demo's
# registry lists them (harness.registry), so that central knows their names and values.
DEFAULT_DISHES = (
    Dish("hongshao-rou", "红烧肉", "Braised pork belly", "pork"),
    Dish("mapo-tofu", "麻婆豆腐", "Mapo tofu", "tofu"),
    Dish("qingchao-baicai", "清炒白菜", "Stir-fried Chinese cabbage", "vegetables"),
    Dish("mifan", "米饭", "Steamed rice", "rice"),
    Dish("tudou-si", "土豆丝", "Shredded potato", "potato"),
    Dish("yuxiang-rousi", "鱼香肉丝", "Yuxiang shredded pork", "pork"),
    Dish("gongbao-jiding", "宫保鸡丁", "Kung Pao chicken", "poultry"),
    Dish("hongshao-yu", "红烧鱼", "Braised fish", "fish"),
    Dish("xihongshi-chaodan", "西红柿炒蛋", "Tomato and scrambled egg", "egg"),
    Dish("mantou", "馒头", "Steamed bun", "wheat"),
    Dish("suanla-tang", "酸辣汤", "Hot and sour soup", "vegetables"),
    Dish("qingjiao-niurou", "青椒牛肉", "Beef with green pepper", "beef"),
)
DEFAULT_MENU = tuple(dish.code for dish in DEFAULT_DISHES)
DISHES_PER_SERVICE = 4


@dataclass(frozen=True, slots=True)
class Demand:
    """The demand model's parameters (docs/forecast.md, "The simulated canteen")."""

    weekday_factors: tuple[float, ...] = (1.06, 1.0, 1.0, 0.97, 0.85, 0.95, 0.95)  # Mon..Sun worked
    off_day_factor: float = 0.3
    meeting_probability: float = 0.04  # per working day
    meeting_extra_share: tuple[float, float] = (0.08, 0.2)  # of the staff, at lunch
    meeting_service: str = "lunch"
    noise: float = 0.1  # the rate varies uniformly within +-noise
    # which days are worked: the registry's [calendar.YYYY] years, else the package
    calendar: WorkCalendar = field(default_factory=WorkCalendar, compare=False)

    def working(self, on: date) -> bool:
        """Mainland China's working days (调休 included); the plain week for an unknown year."""
        return self.calendar.working(on)

    def factor(self, on: date) -> float:
        """The day's attendance factor against a usual working day."""
        if not self.working(on):
            return self.off_day_factor
        return self.weekday_factors[on.weekday()]


def day_menu(menu: Sequence[str], picks: Sequence[int]) -> tuple[str, ...]:
    """The dishes of one service: `picks` are indexes into the site's menu."""
    return tuple(menu[i] for i in picks)
