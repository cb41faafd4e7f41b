"""``headwater shadows <endpoint>``: how often each shadow variant agrees with production."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from infra.cli.client import print_table
from infra.cli.endpoints import settings_for_client
from services.core.access import access_token
from services.core.settings import Settings


def print_shadow_agreement(settings: Settings, endpoint: str) -> int:
    """One line per shadow variant: requests copied, errors, answers agreeing with production's, requests
    not copied while too many copies were in flight."""
    settings, endpoints = settings_for_client(settings.state_dir, settings.aws_endpoint)
    url = f"{endpoints['runtime']}/headwater/endpoints/{urllib.parse.quote(endpoint)}/shadow-agreement"
    token = access_token(settings)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            report = json.loads(resp.read())["ShadowVariants"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
        print(f"could not read the shadow statistics of {endpoint} from {url}: {err}")
        return 1
    if not report:
        print(f"{endpoint}: no shadowed requests since the node started (no shadow variant, or no traffic)")
        return 0
    rows = [("SHADOW VARIANT", "REQUESTS", "ERRORS", "AGREED", "SKIPPED", "AGREEMENT")]
    for variant, c in sorted(report.items()):
        share = "-" if c["agreement"] is None else f"{100 * c['agreement']:.1f}%"
        rows.append((variant, str(c["requests"]), str(c["errors"]), str(c["agreed"]), str(c["skipped"]),
                     share))
    print_table(rows)
    return 0
