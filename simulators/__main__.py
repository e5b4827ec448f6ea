"""`canteen-sim` / `python -m simulators`: run virtual canteen devices against an MQTT broker."""

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from contract.settings_cli import error_lines
from simulators.errors import BrokerError, SimulatorError
from simulators.publisher import run_simulation
from simulators.settings import SimulatorSettings

logger = logging.getLogger("simulators")

EXIT_OK = 0
EXIT_BROKER = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


async def _run(settings: SimulatorSettings) -> None:
    # SIGTERM takes Ctrl-C's cancellation path: devices say 'offline', no truth is written.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run_simulation(settings)


def main(argv: list[str] | None = None) -> int:
    """Parse settings (command line over SIM_* environment), run, and return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if any(arg == "--mqtt-password" or arg.startswith("--mqtt-password=") for arg in args):
        print(
            "canteen-sim: warning: --mqtt-password is visible to every user of this machine; "
            "use SIM_MQTT_PASSWORD or --mqtt-password-file",
            file=sys.stderr,
        )
    try:
        settings = SimulatorSettings.from_args(args)
    except ValidationError as exc:
        for line in error_lines(exc, SimulatorSettings, options=True):
            print(f"canteen-sim: {line}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_run(settings))
    except BrokerError as exc:
        logger.error("broker failure, run incomplete: %s", exc.reason)
        return EXIT_BROKER
    except SimulatorError as exc:
        logger.error("%s", exc.reason)
        return EXIT_CONFIG
    except (KeyboardInterrupt, asyncio.CancelledError):
        logger.warning("interrupted; the run is incomplete and no ground truth was written")
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
