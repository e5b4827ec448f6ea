"""Scale plausibility: below the division or above the maximum is excluded and counted."""

from central.kpi.readings import ScaleReadings
from central.kpi.scales import check_scales
from central.site_kpi_config import ScaleConfig


def test_division_and_maxima_per_stream_and_per_scale() -> None:
    scale = ScaleReadings.of(
        time_ms=[1, 2, 3, 4, 5, 6, 7, 8],
        stream=["plate", "plate", "plate", "plate", "prep", "prep", "prep", "plate"],
        # 0 g: a clean tray, kept; 0.5 g: below the default 1 g division; 2001 g: above the
        # plate default of 2000 g; bin-2 is configured with a 5 g division and a 10 kg maximum
        mass_g=[0.0, 0.5, 2000.0, 2001.0, 4.0, 10001.0, 45000.0, 1.0],
        device=["p1", "p1", "p1", "p1", "bin-2", "bin-2", "bin-1", "p1"],
    )
    checked = check_scales(scale, {"bin-2": ScaleConfig("bin-2", division_g=5.0, max_g=10000.0)})
    assert checked.kept.mass_g.tolist() == [0.0, 2000.0, 45000.0, 1.0]
    assert checked.kept.device.tolist() == ["p1", "p1", "bin-1", "p1"]
    assert checked.below_division_ms.tolist() == [2, 5]
    assert checked.above_max_ms.tolist() == [4, 6]
