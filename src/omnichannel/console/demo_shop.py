"""``/demo/shop``: a tiny storefront that sends Segment calls to this server, to walk S1 by hand.

The page loads ``tracker.js`` with the web source's write key: the one in ``?key=``, else the
demo's (``omni demo`` keeps its keys in ``omni-demo.json``; see ``demo.loader``). A write key is
public by design (every web page that uses analytics.js shows its own), so the page needs no
sign-in; it can only send events, as any visitor's browser could.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from omnichannel.console.templating import render
from omnichannel.demo.data import CATALOG, WEB
from omnichannel.demo.loader import default_keys_file, read_keys
from omnichannel.platform import Platform, get_platform

router = APIRouter()
SKUS = ("P-FAUCET-01", "P-SINK-03", "T-DRILL-01", "G-HOSE-01", "W-BEACH-WAGON", "L-LAMP-01")
PRODUCTS = [p for p in CATALOG if p.sku in SKUS]


def _demo_key(platform: Platform) -> str | None:
    keys = read_keys(default_keys_file(platform.settings))
    return keys.write_keys.get(WEB.name) if keys else None


@router.get("/demo/shop", include_in_schema=False)
async def shop(
    request: Request,
    key: str | None = Query(None, max_length=200),
    platform: Platform = Depends(get_platform),
) -> Response:
    context = {"write_key": key or _demo_key(platform), "products": PRODUCTS}
    return render(request, "demo_shop.html", context)
