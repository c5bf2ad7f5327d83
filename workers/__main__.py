"""`python -m workers [--processes N] [--threads M]`: start Dramatiq workers for imagechat.

The Redis consumer sleeps up to `dramatiq_worker_timeout` ms when its queue is empty; the default
(1000 ms) alone would add up to a second before an idle worker notices a job, so we lower it.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from imagechat.logs import configure_logging
    from imagechat.settings import get_settings

    settings = get_settings()
    # The main process's own records (boot, stop); each worker process configures itself in workers.actors.
    configure_logging("worker")
    os.environ.setdefault("dramatiq_worker_timeout", str(settings.worker_poll_ms))
    # Rendering is CPU-bound; on a small machine the web server must win the CPU to stay responsive.
    os.nice(settings.worker_nice)
    from dramatiq.cli import main as dramatiq_main

    args = sys.argv[1:]
    if "--processes" not in args and "-p" not in args:
        args += ["--processes", str(settings.worker_processes)]
    if "--threads" not in args and "-t" not in args:
        args += ["--threads", str(settings.worker_threads)]
    sys.argv = ["dramatiq", "workers.actors", *args]
    sys.exit(dramatiq_main())


if __name__ == "__main__":
    main()
