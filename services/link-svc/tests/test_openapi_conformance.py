"""Every answer link-svc gives is in its OpenAPI document: schemathesis (bankstream_common.testing.fuzz)
fuzzes the running service from its OpenAPI document with valid bearer tokens and a real Item, so requests
reach the handlers (and Plaid, the emulator), and checks that no answer is a 5xx, that every status code
is documented for its operation, and that every body matches the documented schema. Real link-svc,
emulator, PostgreSQL and Kafka."""

from pathlib import Path

import pytest
from bankstream_common.testing.fuzz import fuzz_openapi

from .harness import LinkService, exchange

pytestmark = pytest.mark.integration


async def test_every_answer_link_svc_gives_is_in_its_openapi_document(
    svc: LinkService, tmp_path: Path
) -> None:
    token = svc.token("schemathesis")
    _, item = await exchange(svc, token, await svc.link_via_emulator(token))
    vault_reader = svc.token("sync-worker", scopes=("vault:read",), kind="service")
    report = await fuzz_openapi(
        svc.container.app.openapi(),  # the document /openapi.json serves with env=dev
        svc.url,
        tmp_path,
        headers={"Authorization": f"Bearer {token}"},
        parameters={"path.item_id": item["item_id"]},
        operations={"/internal/v1/items/{item_id}/access-token": {"Authorization": f"Bearer {vault_reader}"}},
    )
    print(report)  # shown with -s
