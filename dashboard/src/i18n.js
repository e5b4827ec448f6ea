// Labels in English and Chinese; the viewer's language (navigator.language) picks one, a switch
// on the page overrides it for the session.

export const LABELS = {
  en: {
    title: "Canteen dashboard",
    token: "Access token",
    tokenSave: "Use",
    tokenHint: "Read token (Authorization: Bearer); kept in this tab only",
    region: "Region",
    site: "Canteen",
    regionView: "Region",
    siteView: "Canteen",
    period: "Period",
    day: "Day",
    week: "Week",
    month: "Month",
    year: "Year",
    custom: "Custom",
    date: "Date",
    start: "From",
    end: "To",
    show: "Show",
    loading: "Loading…",
    noData: "no data",
    csv: "CSV",
    rankBy: "Rank by",
    rank: "Rank",
    alerts: "Alerts",
    silent: "silent device",
    openAlerts: "Open alerts",
    noAlerts: "No open alerts on {date}.",
    vsPrevious: "vs previous period",
    vsBaseline: "vs baseline",
    previous: "previous period",
    regionTotal: "Region total",
    sitesRanked: "Canteens ranked",
    trendBySite: "Trend by canteen",
    dinersPerService: "Diners per meal service",
    wastePerDinerByStream: "Waste per diner by stream",
    cleanPlatePerService: "Clean-plate rate per meal service",
    electricityPerMeal: "Electricity per meal",
    gasPerMeal: "Gas per meal",
    waterPerMeal: "Water per meal",
    quotaMonth: "Energy quota burn-down, month",
    quotaYear: "Energy quota burn-down, year",
    cumulative: "used to date",
    allowed: "quota allowed to date",
    quota: "quota",
    loadCurve: "Daily load curve",
    devices: "Devices and data quality",
    device: "Device",
    kind: "Kind",
    status: "Status",
    readings: "Readings",
    expected: "Expected",
    completeness: "Completeness",
    duplicates: "Duplicates dropped",
    skew: "Clock skew (median)",
    counterEvents: "Counter events",
    ok: "reporting",
    quality: "Data quality",
    estimatedShare: "Estimated energy share",
    duplicateShare: "Duplicate share",
    scaleRejected: "Scale readings rejected",
    trendRange: "Trends over {start} – {end}",
    loadCurveOf: "{date}, 15-minute energy; meal services shaded",
    message: "Message",
    value: "Value",
    threshold: "Threshold",
    unauthorized: "The API refused the request ({status}): enter a valid access token.",
    failed: "The API answered {status}: {detail}",
    plate: "plate",
    prep: "preparation",
    overproduction: "overproduction",
    electricity: "electricity",
    gas: "gas",
    water: "water",
    breakfast: "breakfast",
    lunch: "lunch",
    dinner: "dinner",
    language: "Language",
    kpi_diners: "Diners",
    kpi_waste_per_diner_g: "Waste per diner",
    kpi_clean_plate_rate_pct: "Clean-plate rate",
    kpi_energy_kgce_per_meal: "Energy per meal",
    kpi_quota_use_pct: "Quota use",
    kpi_electricity_kwh_per_meal: "Electricity per meal",
    kpi_gas_m3_per_meal: "Gas per meal",
    kpi_water_l_per_meal: "Water per meal",
    kpi_off_hours_share_pct: "Off-hours energy share",
    kpi_peak_demand_kw: "Peak demand",
    kpi_waste_change_vs_baseline_pct: "Waste change vs baseline",
    kpi_completeness_pct: "Meter data completeness",
  },
  zh: {
    title: "食堂看板",
    token: "访问令牌",
    tokenSave: "使用",
    tokenHint: "读取令牌（Authorization: Bearer），仅保存在本标签页",
    region: "区域",
    site: "食堂",
    regionView: "区域",
    siteView: "食堂",
    period: "时段",
    day: "日",
    week: "周",
    month: "月",
    year: "年",
    custom: "自定义",
    date: "日期",
    start: "从",
    end: "至",
    show: "查看",
    loading: "加载中…",
    noData: "无数据",
    csv: "CSV",
    rankBy: "排名依据",
    rank: "排名",
    alerts: "告警",
    silent: "设备无数据",
    openAlerts: "未处理告警",
    noAlerts: "{date} 无告警。",
    vsPrevious: "较上一时段",
    vsBaseline: "较基准期",
    previous: "上一时段",
    regionTotal: "区域合计",
    sitesRanked: "食堂排名",
    trendBySite: "各食堂趋势",
    dinersPerService: "各餐次就餐人数",
    wastePerDinerByStream: "人均浪费（按类别）",
    cleanPlatePerService: "各餐次光盘率",
    electricityPerMeal: "每餐用电",
    gasPerMeal: "每餐用气",
    waterPerMeal: "每餐用水",
    quotaMonth: "能耗定额消耗（月）",
    quotaYear: "能耗定额消耗（年）",
    cumulative: "累计用能",
    allowed: "截至当日定额",
    quota: "定额",
    loadCurve: "日负荷曲线",
    devices: "设备与数据质量",
    device: "设备",
    kind: "类型",
    status: "状态",
    readings: "读数",
    expected: "应有读数",
    completeness: "完整率",
    duplicates: "丢弃的重复读数",
    skew: "时钟偏差（中位数）",
    counterEvents: "计量异常事件",
    ok: "正常上报",
    quality: "数据质量",
    estimatedShare: "估算能耗占比",
    duplicateShare: "重复读数占比",
    scaleRejected: "剔除的称重读数",
    trendRange: "趋势：{start} – {end}",
    loadCurveOf: "{date}，每15分钟用能；阴影为餐次",
    message: "说明",
    value: "数值",
    threshold: "阈值",
    unauthorized: "接口拒绝了请求（{status}）：请输入有效的访问令牌。",
    failed: "接口返回 {status}：{detail}",
    plate: "餐盘剩余",
    prep: "备餐损耗",
    overproduction: "过量制作",
    electricity: "电",
    gas: "燃气",
    water: "水",
    breakfast: "早餐",
    lunch: "午餐",
    dinner: "晚餐",
    language: "语言",
    kpi_diners: "就餐人次",
    kpi_waste_per_diner_g: "人均浪费",
    kpi_clean_plate_rate_pct: "光盘率",
    kpi_energy_kgce_per_meal: "每餐能耗",
    kpi_quota_use_pct: "定额使用率",
    kpi_electricity_kwh_per_meal: "每餐用电",
    kpi_gas_m3_per_meal: "每餐用气",
    kpi_water_l_per_meal: "每餐用水",
    kpi_off_hours_share_pct: "非营业时段能耗占比",
    kpi_peak_demand_kw: "最大需量",
    kpi_waste_change_vs_baseline_pct: "浪费较基准期变化",
    kpi_completeness_pct: "计量数据完整率",
  },
};

export const LANGUAGES = ["en", "zh"];
const STORE_KEY = "canteen.lang";

export function detectLanguage() {
  const chosen = sessionStorage.getItem(STORE_KEY);
  if (chosen && LANGUAGES.includes(chosen)) return chosen;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

let current = "en";

export function setLanguage(lang, remember = false) {
  current = LANGUAGES.includes(lang) ? lang : "en";
  if (remember) sessionStorage.setItem(STORE_KEY, current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
}

export function language() {
  return current;
}

/** The label `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = LABELS[current][key] ?? LABELS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** A label when one exists (service and stream names), else the text itself. */
export function tOr(key) {
  return LABELS[current][key] ?? LABELS.en[key] ?? key;
}
