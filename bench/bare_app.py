"""The baseline server for ``/v1/track``: one FastAPI route answering ``{"success": true}``.

Started by ``bench/ingest.py`` as ``python bench/bare_app.py PORT [PROCESSES]`` with the very
uvicorn settings ``omni serve`` uses (uvloop, httptools, no access log, as many processes), so the
ratio to it measures what Omnichannel's own work costs per request, not what HTTP in Python costs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.api_route("/v1/track", methods=["GET", "POST"])
async def track() -> dict[str, bool]:
    return {"success": True}


if __name__ == "__main__":
    uvicorn.run(
        "bare_app:app",  # an import string: uvicorn's worker processes import the app themselves
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        workers=int(sys.argv[2]) if len(sys.argv) > 2 else 1,
        log_level="info",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )
