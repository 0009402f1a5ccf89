"""Every answer the categorizer's API gives is in its OpenAPI document: schemathesis
(bankstream_common.testing.fuzz) fuzzes the running service (real broker and database) from the app's
own document, with a token holding both scopes, a real rule and a real job, so requests reach the
handlers: no 5xx, every status documented for its operation, every body in its documented shape."""

from pathlib import Path

import pytest
from bankstream_common.testing.fuzz import fuzz_openapi
from bankstream_common.testing.issuer import TEST_ISSUER

from .harness import Categorizer

pytestmark = pytest.mark.integration


async def test_every_answer_the_categorizer_gives_is_in_its_openapi_document(
    svc: Categorizer, tmp_path: Path
) -> None:
    await svc.link("item-fuzz", "fuzzer")
    await svc.transaction(
        transaction_id="t-fuzz-1", item_id="item-fuzz", sync_sequence=1, name="SQ *BLUE BOTTLE"
    )
    saved = await svc.call(
        "POST",
        "/v1/rules",
        "fuzzer",
        json={"match": {"description_contains": "blue bottle"}, "category": "FOOD_AND_DRINK_COFFEE"},
    )
    assert saved.status_code == 201, saved.text
    report = await fuzz_openapi(
        svc.container.app.openapi(),
        str(svc.http.base_url).rstrip("/"),
        tmp_path,
        headers=TEST_ISSUER.bearer("fuzzer", ["categorizer:rules", "categorize"]),
        parameters={
            "path.rule_id": saved.json()["rule"]["rule_id"],
            "path.job_id": saved.json()["job"]["job_id"],
        },
    )
    print(report)  # shown with -s
