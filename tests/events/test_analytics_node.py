"""Segment's Node.js SDK, ``@segment/analytics-node``, sends to us unchanged but for the host.

The back-office systems of a store chain (a POS server, the call centre's CRM) often run on
node and send with this SDK. The published package, bundled with its dependencies into one
file (``tests/events/sdk/analytics-node.js``, ``make vendor-sdk``), runs on the machine's node
against a real server (the ``live`` fixture); every call it makes must land on one profile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.live import Live

pytestmark = pytest.mark.slow
SDK = Path(__file__).parent / "sdk" / "analytics-node.js"

# The README's configuration: `new Analytics({ writeKey, host })`; one call of each kind.
CALL_CENTRE = """
const { Analytics } = require(process.argv[2]);
const analytics = new Analytics({ writeKey: process.argv[3], host: process.argv[4] });
const answers = [];
analytics.on('http_request', (request) => answers.push(new URL(request.url).pathname));
analytics.on('error', (error) => {
  console.error(String(error.reason || error));
  process.exitCode = 1;
});
analytics.page({ anonymousId: 'caller-7', name: 'Hotline' });
analytics.identify({ userId: 'crm-7', anonymousId: 'caller-7',
                     traits: { email: 'Oksana@Example.com', phone: '+380671234567' } });
analytics.track({ userId: 'crm-7', event: 'Call Ended', properties: { minutes: 4 } });
analytics.screen({ userId: 'crm-7', name: 'Order 1042' });
analytics.group({ userId: 'crm-7', groupId: 'acme', traits: { email: 'office@acme.example' } });
analytics.alias({ userId: 'crm-7', previousId: 'ivr-7' });
analytics.closeAndFlush().then(() => console.log(JSON.stringify(answers)));
"""


def test_analytics_node_sends_every_call_to_one_profile(live: Live, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Node.js 18 or newer (Debian's nodejs package)")
    script = tmp_path / "call_centre.js"
    script.write_text(CALL_CENTRE)
    done = subprocess.run(
        [node, str(script), str(SDK), live.keys["pos"], live.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"/v1/batch"}

    profile = live.profile("oksana@example.com", events=6)
    identities = {(i["type"], i["value"]) for i in profile["identities"]}
    assert identities == {
        ("user_id", "crm-7"),
        ("anonymous_id", "caller-7"),
        ("anonymous_id", "ivr-7"),
        ("email", "oksana@example.com"),
        ("phone", "+380671234567"),
    }  # the group's email is the company's, not an identifier of hers
    assert profile["computed"]["event_counts"] == {
        "page": 1, "identify": 1, "track": 1, "screen": 1, "group": 1, "alias": 1
    }  # fmt: skip
    assert profile["computed"]["channels"] == ["pos"]
    timeline = httpx.get(f"{live.url}/v1/profiles/{profile['id']}/timeline", headers=live.bearer)
    track = next(e for e in timeline.json()["items"] if e["type"] == "track")
    assert (track["event"], track["properties"]) == ("Call Ended", {"minutes": 4})
