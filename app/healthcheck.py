"""``python -m app.healthcheck``: the image's HEALTHCHECK, exit 0 when /health answers 200 within 2 s."""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT') or '8080'}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (a fixed loopback URL)
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
