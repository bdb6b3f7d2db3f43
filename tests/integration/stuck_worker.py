"""`thidua worker` whose activity threads all get stuck: while the file named by
$THIDUA_TEST_STUCK_FLAG exists, every command's activity blocks its thread for good (as a
lock that is never released would). Built by the composition root like the real worker:

    THIDUA_TEST_STUCK_FLAG=/tmp/x python -m tests.integration.stuck_worker
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any

from thidua import bootstrap, logs
from thidua.settings import get_settings
from thidua.workflows.activities import TargetActivities
from thidua.workflows.messages import Applied, CommandInput

log = logging.getLogger("thidua.tests.stuck_worker")
FLAG = "THIDUA_TEST_STUCK_FLAG"


class StuckActivities(TargetActivities):
    def __init__(self, app: Any, flag: str) -> None:
        super().__init__(app)
        self.flag = flag
        self.never = threading.Event()

    def _apply(self, inp: CommandInput) -> Applied:
        if os.path.exists(self.flag):
            log.warning("activity thread stuck on %s (%s)", inp.command, inp.command_id)
            self.never.wait()
        return super()._apply(inp)


if __name__ == "__main__":
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format, stream=sys.stderr)
    flag = os.environ[FLAG]
    asyncio.run(bootstrap.run_worker(settings, activities=lambda app: StuckActivities(app, flag)))
