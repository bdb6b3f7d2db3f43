"""Container healthchecks for docker-compose: `python /app/deploy/healthcheck.py api|worker|projector`.

Exit 0 when healthy, 1 (with a one-line reason on stderr) otherwise. Each check looks at *this*
container's process, not just at a shared dependency, so one sick replica shows as unhealthy:

- api: GET /healthz on the local port answers 200 (it checks PostgreSQL and Temporal itself).
- worker: Temporal lists a poller on the task queue whose identity names this container's
  host name (the SDK's default identity is `<pid>@<hostname>`).
- projector: its process runs (PID 1 is `thidua projector`), PostgreSQL answers and the read
  models' tracking table exists (the projector made it at start).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import urllib.request


def check_api() -> None:
    port = os.environ.get("THIDUA_API_PORT", "8000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")


async def _worker_polls() -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    namespace = os.environ.get("TEMPORAL_NAMESPACE", "default")
    queue = os.environ.get("THIDUA_TASK_QUEUE", "thidua-targets")
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], namespace=namespace)
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    host = socket.gethostname()
    if not any(host in poller.identity for poller in response.pollers):
        raise RuntimeError(f"no poller from {host} on task queue {queue!r}")


def check_worker() -> None:
    asyncio.run(asyncio.wait_for(_worker_polls(), 8))


def check_projector() -> None:
    with open("/proc/1/cmdline", "rb") as fh:
        cmdline = fh.read().split(b"\0")
    if b"projector" not in cmdline:
        raise RuntimeError("PID 1 is not `thidua projector`")
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5) as conn:
        # the projector creates its tracking table when it starts; no table, not started yet
        if conn.execute("SELECT to_regclass('projection_tracking')").fetchone()[0] is None:
            raise RuntimeError("the read models are not set up yet")


CHECKS = {"api": check_api, "worker": check_worker, "projector": check_projector}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: {argv[0]} {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    try:
        CHECKS[argv[1]]()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"{argv[1]} unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: the Temporal client's native runtime threads can abort a normal interpreter
    # shutdown (seen here: "PyGILState_Release ... finalizing"), which would read as unhealthy.
    os._exit(code)
