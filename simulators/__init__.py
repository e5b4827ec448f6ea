"""Virtual canteen devices that publish over MQTT like real ones, and the truth of what they did."""

from simulators.canteen import Behaviour, DayPlan, plan_site_days
from simulators.publisher import run_simulation
from simulators.registry import Service, Site, load_registry, parse_registry
from simulators.settings import SimulatorSettings
from simulators.truth import DayTruth, GroundTruth, ServiceTruth

__all__ = [
    "Behaviour",
    "DayPlan",
    "DayTruth",
    "GroundTruth",
    "Service",
    "ServiceTruth",
    "SimulatorSettings",
    "Site",
    "load_registry",
    "parse_registry",
    "plan_site_days",
    "run_simulation",
]
