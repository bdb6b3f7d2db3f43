"""`thidua worker` whose activities pause after saving one command and before answering,
so a test can SIGKILL the worker in that window. Built by the composition root
(`thidua.bootstrap.run_worker`) like the real one, with its activities swapped:

    python -m tests.integration.pausing_worker <command> <seconds>
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from thidua import bootstrap, logs
from thidua.settings import get_settings
from thidua.workflows.activities import TargetActivities
from thidua.workflows.messages import Applied, CommandInput

log = logging.getLogger("thidua.tests.pausing_worker")


class PausingActivities(TargetActivities):
    def __init__(self, app: Any, command: str, seconds: float) -> None:
        super().__init__(app)
        self.command, self.seconds = command, seconds

    def _apply(self, inp: CommandInput) -> Applied:
        applied = super()._apply(inp)
        if inp.command == self.command:
            log.warning("pausing %.1fs after saving %s", self.seconds, inp.command)
            time.sleep(self.seconds)
        return applied


if __name__ == "__main__":
    command, seconds = sys.argv[1], float(sys.argv[2])
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format, stream=sys.stderr)
    asyncio.run(bootstrap.run_worker(settings, activities=lambda app: PausingActivities(app, command, seconds)))
