"""``python -m app``: validate the environment, then serve with uvicorn (one line and exit 2 on a bad setting)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from app.config import ConfigError, Settings


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"app: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.pid_file:
        with open(settings.pid_file, "w", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")
    uvicorn.run("app.web:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=5, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
