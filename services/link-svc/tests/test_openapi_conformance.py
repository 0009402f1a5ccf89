"""Every answer link-svc gives is in its OpenAPI document: schemathesis (its CLI, as a developer runs it)
fuzzes the running service from its OpenAPI document with valid bearer tokens and a real Item, so requests
reach the handlers (and Plaid, the emulator), and checks that no answer is a 5xx, that every status code
is documented for its operation, and that every body matches the documented schema. Real link-svc,
emulator, PostgreSQL and Kafka."""

import asyncio
import json
import sys
from pathlib import Path

import pytest

from .harness import LinkService, exchange

pytestmark = pytest.mark.integration

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
EXAMPLES = 10  # per operation and phase: the whole run stays well under a minute


async def test_every_answer_link_svc_gives_is_in_its_openapi_document(
    svc: LinkService, tmp_path: Path
) -> None:
    token = svc.token("schemathesis")
    _, item = await exchange(svc, token, await svc.link_via_emulator(token))
    vault_reader = svc.token("sync-worker", scopes=("vault:read",), kind="service")
    document = tmp_path / "openapi.json"  # the document /openapi.json serves with env=dev
    document.write_text(json.dumps(svc.container.app.openapi()))
    (tmp_path / "schemathesis.toml").write_text(
        f'''headers = {{ Authorization = "Bearer {token}" }}

[parameters]
"path.item_id" = "{item["item_id"]}"

[[operations]]
include-path = "/internal/v1/items/{{item_id}}/access-token"
headers = {{ Authorization = "Bearer {vault_reader}" }}
'''
    )
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = await asyncio.create_subprocess_exec(
        str(schemathesis),
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        str(document),
        "--url",
        svc.url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "20261129",
        "--workers",
        "1",  # hypothesis describes its strategies with `ast`, which Python 3.11 cannot run in threads
        "--request-timeout",
        "20",
        "--report-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=180)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-12000:]
    print(report)  # shown with -s, and on failure
    assert "passed" in report.lower()
