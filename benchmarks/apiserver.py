"""The API for the ingest benchmark, run as its own process (no workers, no access log).

POSTBACK_DATABASE_URL=... POSTBACK_ADMIN_KEY=... python -m benchmarks.apiserver PORT
"""

from __future__ import annotations

import sys

import uvicorn

from postback.api.app import create_app
from postback.config import load


def main() -> None:
    port = int(sys.argv[1])
    app = create_app(load())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
