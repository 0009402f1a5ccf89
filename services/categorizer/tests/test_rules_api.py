"""The rules API against the real database and broker: CRUD with per-user isolation, 422 with a reason for
a bad rule or a costly regex, preview before saving, and re-categorization with progress after a save."""

import json

import pytest
from bankstream_common.testing.issuer import TEST_ISSUER
from categorizer.adapters import jobs as job_store

from .harness import RULES, Categorizer, by_txn

pytestmark = pytest.mark.integration

COFFEE_RULE = {"match": {"description_contains": "blue bottle"}, "category": "FOOD_AND_DRINK_COFFEE"}


async def seed(svc: Categorizer, n: int, user: str = "alice", item: str = "item-1") -> None:
    await svc.link(item, user)
    for i in range(n):
        name = "SQ *BLUE BOTTLE COFF" if i % 2 == 0 else "XQZ 99812"
        await svc.transaction(transaction_id=f"{item}-t{i:03d}", item_id=item, sync_sequence=i + 1, name=name)
    await svc.output(lambda es: len([e for e in es if e.data["item_id"] == item]) >= n)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"match": {"description_regex": "(a+)+$"}, "category": "FOOD_AND_DRINK_COFFEE"},
            "nested quantifiers",
        ),
        ({"match": {"description_regex": "(x)\\1"}, "category": "FOOD_AND_DRINK_COFFEE"}, "backreferences"),
        ({"match": {"description_regex": "(a|aa)*b"}, "category": "FOOD_AND_DRINK_COFFEE"}, "alternation"),
        ({"match": {"description_regex": "["}, "category": "FOOD_AND_DRINK_COFFEE"}, "malformed"),
        ({"match": {"description_regex": "a" * 201}, "category": "FOOD_AND_DRINK_COFFEE"}, "longer than"),
        (
            {"match": {"description_regex": "a{4294967295}"}, "category": "FOOD_AND_DRINK_COFFEE"},
            "too costly",
        ),
        ({"match": {"merchant": "x"}, "category": "FOOD_AND_DRINK_NOPE"}, "not a PFC v2 detailed"),
        ({"match": {}, "category": "FOOD_AND_DRINK_COFFEE"}, "at least one criterion"),
        ({"match": {"amount_min": 10, "amount_max": 5}, "category": "FOOD_AND_DRINK_COFFEE"}, "amount_min"),
    ],
)
async def test_a_bad_rule_gets_a_422_with_the_reason(svc: Categorizer, body: dict, reason: str) -> None:  # type: ignore[type-arg]
    for path in ("/v1/rules", "/v1/rules/preview"):
        r = await svc.call("POST", path, json=body)
        assert r.status_code == 422, r.text
        assert reason in r.json()["error"]["message"]


async def test_a_nul_character_in_a_rule_is_a_422_not_a_500(svc: Categorizer) -> None:
    body = {"match": {"description_contains": "blue\x00bottle"}, "category": "FOOD_AND_DRINK_COFFEE"}
    for path in ("/v1/rules", "/v1/rules/preview"):
        r = await svc.call("POST", path, json=body)
        assert r.status_code == 422, r.text


async def test_an_infinite_or_huge_amount_in_a_rule_is_a_422(svc: Categorizer) -> None:
    """JSON allows 1e400 (infinity to Python) and Python's parser allows Infinity: stored, either became
    null and the rule one without criteria, which its user's every later decision refused."""
    for amount in ("1e400", "Infinity", "1e16"):
        body = '{"match": {"amount_max": ' + amount + '}, "category": "FOOD_AND_DRINK_COFFEE"}'
        for path in ("/v1/rules", "/v1/rules/preview"):
            headers = {**TEST_ISSUER.bearer("alice", RULES), "Content-Type": "application/json"}
            r = await svc.http.post(path, content=body, headers=headers)
            assert r.status_code == 422, (amount, r.text)
            assert "amount_max" in r.text


async def test_unknown_fields_and_missing_scope_are_refused(svc: Categorizer) -> None:
    r = await svc.call("POST", "/v1/rules", json={**COFFEE_RULE, "colour": "red"})
    assert r.status_code == 422
    r = await svc.call("POST", "/v1/rules", scopes=("categorize",), json=COFFEE_RULE)
    assert r.status_code == 403
    r = await svc.http.post("/v1/rules", json=COFFEE_RULE)
    assert r.status_code == 401


async def test_rules_are_per_user(svc: Categorizer) -> None:
    r = await svc.call("POST", "/v1/rules", "alice", json=COFFEE_RULE)
    assert r.status_code == 201, r.text
    rule_id = r.json()["rule"]["rule_id"]
    assert (await svc.call("GET", f"/v1/rules/{rule_id}", "alice")).status_code == 200
    assert (await svc.call("GET", f"/v1/rules/{rule_id}", "mallory")).status_code == 404
    assert (await svc.call("PUT", f"/v1/rules/{rule_id}", "mallory", json=COFFEE_RULE)).status_code == 404
    assert (await svc.call("DELETE", f"/v1/rules/{rule_id}", "mallory")).status_code == 404
    assert (await svc.call("GET", "/v1/rules", "mallory")).json() == {"rules": []}
    job_id = r.json()["job"]["job_id"]
    assert (await svc.call("GET", f"/v1/jobs/{job_id}", "mallory")).status_code == 404
    listed = (await svc.call("GET", "/v1/rules", "alice")).json()["rules"]
    assert [x["rule_id"] for x in listed] == [rule_id]
    # a service token names the user it acts for
    r = await svc.call("GET", "/v1/rules", "ops", kind="service", params={"user_id": "alice"})
    assert [x["rule_id"] for x in r.json()["rules"]] == [rule_id]
    r = await svc.call("GET", "/v1/rules", "ops", kind="service")
    assert r.status_code == 403


async def test_a_service_token_reaches_a_rule_or_job_only_for_the_user_it_names(svc: Categorizer) -> None:
    r = await svc.call("POST", "/v1/rules", "alice", json=COFFEE_RULE)
    rule, job = f"/v1/rules/{r.json()['rule']['rule_id']}", f"/v1/jobs/{r.json()['job']['job_id']}"
    for path in (rule, job):
        # naming nobody is not "every user"; naming another user finds nothing
        assert (await svc.call("GET", path, "ops", kind="service")).status_code == 404
        bob = {"user_id": "bob"}
        assert (await svc.call("GET", path, "ops", kind="service", params=bob)).status_code == 404
        assert (
            await svc.call("GET", path, "ops", kind="service", params={"user_id": "alice"})
        ).status_code == 200
        every = (*RULES, "users:all")
        assert (await svc.call("GET", path, "ops", every, kind="service")).status_code == 200
    assert (await svc.call("DELETE", rule, "ops", kind="service")).status_code == 404
    assert (await svc.call("PUT", rule, "ops", kind="service", json=COFFEE_RULE)).status_code == 404
    assert (await svc.call("GET", rule, "alice")).status_code == 200  # still there


async def test_a_removed_transaction_is_left_out_of_previews_and_jobs(svc: Categorizer) -> None:
    await seed(svc, 4)  # t000 and t002 are coffee
    await svc.transaction(transaction_id="item-1-t000", item_id="item-1", sync_sequence=5, change="removed")
    await svc.output(lambda es: any(e.data["change"] == "removed" for e in es))
    body = (await svc.call("POST", "/v1/rules/preview", json=COFFEE_RULE)).json()
    assert (body["scanned"], body["would_change"]) == (3, 1)
    saved = await svc.call("POST", "/v1/rules", json=COFFEE_RULE)
    job = await svc.job_done(saved.json()["job"]["job_id"])
    assert (job["total"], job["processed"], job["changed"]) == (3, 3, 1)
    out = await svc.output(lambda es: any(e.data["change"] == "recategorized" for e in es))
    assert [e.data["transaction_id"] for e in out if e.data["change"] == "recategorized"] == ["item-1-t002"]


async def test_preview_saves_nothing_then_saving_recategorizes_with_progress(svc: Categorizer) -> None:
    await seed(svc, 10)
    preview = await svc.call("POST", "/v1/rules/preview", json=COFFEE_RULE)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["scanned"] == 10 and body["would_change"] == 5
    assert {c["after"]["detailed"] for c in body["changes"]} == {"FOOD_AND_DRINK_COFFEE"}
    assert {c["after"]["source"] for c in body["changes"]} == {"user_rule"}
    assert (await svc.call("GET", "/v1/rules")).json() == {"rules": []}

    saved = await svc.call("POST", "/v1/rules", json=COFFEE_RULE)
    assert saved.status_code == 201, saved.text
    job = await svc.job_done(saved.json()["job"]["job_id"])
    assert (job["total"], job["processed"], job["changed"]) == (10, 10, 5)
    assert job["reason"] == "rule_created"
    out = await svc.output(lambda es: sum(e.data["change"] == "recategorized" for e in es) >= 5)
    again = [e.data for e in out if e.data["change"] == "recategorized"]
    assert len(again) == 5
    assert {d["category"]["decided_by"] for d in again} == {saved.json()["rule"]["rule_id"]}
    assert all(d["version"] == 2 and d["caused_by"] == job["job_id"] for d in again)

    # nothing else to change: preview of the same rule changes nothing now
    assert (await svc.call("POST", "/v1/rules/preview", json=COFFEE_RULE)).json()["would_change"] == 0

    # deleting the rule puts the previous decisions back, as another job
    deleted = await svc.call("DELETE", f"/v1/rules/{saved.json()['rule']['rule_id']}")
    assert deleted.status_code == 200
    job = await svc.job_done(deleted.json()["job"]["job_id"])
    assert job["changed"] == 5
    out = await svc.output(lambda es: sum(e.data["change"] == "recategorized" for e in es) >= 10)
    t0 = by_txn(out, "item-1-t000")
    assert [d["version"] for d in t0] == [1, 2, 3]
    assert t0[-1]["category"]["source"] == t0[0]["category"]["source"]


async def test_rule_priority_and_criteria(svc: Categorizer) -> None:
    await seed(svc, 2)
    low = {"match": {"description_contains": "blue"}, "category": "FOOD_AND_DRINK_COFFEE", "priority": 1}
    high = {
        "match": {
            "description_regex": r"^sq \*blue",
            "direction": "out",
            "amount_max": 10,
            "account_id": "acc-1",
        },
        "category": "FOOD_AND_DRINK_FAST_FOOD",
        "priority": 5,
    }
    r1 = await svc.call("POST", "/v1/rules", json=low)
    r2 = await svc.call("POST", "/v1/rules", json=high)
    await svc.job_done(r1.json()["job"]["job_id"])
    await svc.job_done(r2.json()["job"]["job_id"])
    out = await svc.output(lambda es: by_txn(es, "item-1-t000")[-1]["category"]["source"] == "user_rule")
    assert by_txn(out, "item-1-t000")[-1]["category"]["detailed"] == "FOOD_AND_DRINK_FAST_FOOD"
    # the same description, money in: only the low-priority rule holds
    await svc.transaction(transaction_id="refund", name="SQ *BLUE BOTTLE COFF", amount=-5.25, sync_sequence=9)
    out = await svc.output(lambda es: bool(by_txn(es, "refund")))
    assert by_txn(out, "refund")[0]["category"]["detailed"] == "FOOD_AND_DRINK_COFFEE"


async def test_categorize_is_a_pure_preview_in_order_with_the_users_rules_when_named(
    svc: Categorizer,
) -> None:
    txns = [
        {
            "id": "a",
            "description": "SQ *BLUE BOTTLE COFF",
            "amount": 5.0,
            "iso_currency_code": "USD",
            "date": "2026-11-20",
        },
        {"id": "b", "description": "XQZ", "amount": 1.0, "iso_currency_code": "USD", "date": "2026-11-20"},
        {
            "id": "c",
            "description": "ACME PAYROLL",
            "amount": -100.0,
            "iso_currency_code": "USD",
            "date": "2026-11-20",
            "personal_finance_category": {
                "primary": "INCOME",
                "detailed": "INCOME_SALARY",
                "confidence_level": "HIGH",
            },
        },
    ]
    r = await svc.call("POST", "/v1/categorize", scopes=("categorize",), json={"transactions": txns})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["a", "b", "c"]
    assert [x["source"] for x in results] == ["model", "fallback", "plaid"]
    assert results[0]["detailed"] == "FOOD_AND_DRINK_COFFEE"
    assert results[2]["detailed"] == "INCOME_SALARY"
    rule = await svc.call("POST", "/v1/rules", json=COFFEE_RULE)
    assert rule.status_code == 201
    r = await svc.call("POST", "/v1/categorize", scopes=("categorize",), json={"transactions": txns})
    assert r.json()["results"][0]["source"] == "user_rule"  # a user token: its own rules
    svc_token = {"sub": "ledger", "scopes": ("categorize",), "kind": "service"}
    r = await svc.call("POST", "/v1/categorize", **svc_token, json={"transactions": txns})
    assert r.json()["results"][0]["source"] == "model"  # a service naming no user: no rules
    r = await svc.call("POST", "/v1/categorize", **svc_token, json={"transactions": txns, "user_id": "alice"})
    assert r.json()["results"][0]["source"] == "user_rule"
    r = await svc.call(
        "POST", "/v1/categorize", "bob", ("categorize",), json={"transactions": txns, "user_id": "alice"}
    )
    assert r.status_code == 403
    assert (await svc.pool.fetchval("SELECT count(*) FROM transactions")) == 0
    too_many = {"transactions": [txns[0]] * 1001}
    assert (
        await svc.call("POST", "/v1/categorize", scopes=("categorize",), json=too_many)
    ).status_code == 422
    r = await svc.call("POST", "/v1/categorize", scopes=("categorizer:rules",), json={"transactions": txns})
    assert r.status_code == 403


async def test_the_openapi_document_lists_every_route_with_examples(svc: Categorizer) -> None:
    doc = svc.container.app.openapi()  # served at /openapi.json with env=dev
    paths = doc["paths"]
    for path in (
        "/v1/rules",
        "/v1/rules/preview",
        "/v1/rules/{rule_id}",
        "/v1/jobs/{job_id}",
        "/v1/categorize",
    ):
        assert path in paths, path
    create = paths["/v1/rules"]["post"]
    assert create["requestBody"]["content"]["application/json"]["examples"]["merchant"]["value"]["category"]
    assert {"401", "403", "422"} <= set(create["responses"])
    schemas = doc["components"]["schemas"]
    assert schemas["CategorizeIn"]["examples"][0]["transactions"][0]["description"] == "SQ *BLUE BOTTLE COFF"


async def test_a_job_that_cannot_run_fails_alone_and_the_jobs_behind_it_still_run(svc: Categorizer) -> None:
    """A stored rule that no longer compiles (as an infinite amount, stored as null, once made one without
    criteria) fails its user's job, as `failed` with the reason; it used to stop the runner's loop at every
    poll, so no later job of any user ran."""
    async with svc.pool.acquire() as conn:
        await conn.execute("INSERT INTO user_context (user_id) VALUES ('mallory') ON CONFLICT DO NOTHING")
        await conn.execute(
            "INSERT INTO rules (rule_id, user_id, spec) VALUES ('r-broken', 'mallory', $1::jsonb)",
            json.dumps({"match": {"amount_max": None}, "category": "FOOD_AND_DRINK_COFFEE"}),
        )
        await conn.execute("UPDATE user_context SET version = version + 1 WHERE user_id = 'mallory'")
        broken = await job_store.insert(
            conn,
            user_id="mallory",
            item_id=None,
            merchant_key=None,
            reason="rule_created",
            caused_by="t",
            total=0,
        )
    svc.container.deps.jobs_wakeup.set()
    await seed(svc, 4, item="item-jobs")
    saved = await svc.call("POST", "/v1/rules", json=COFFEE_RULE)
    assert saved.status_code == 201, saved.text
    await svc.job_done(saved.json()["job"]["job_id"])  # alice's, created after mallory's
    failed = (await svc.call("GET", f"/v1/jobs/{broken.job_id}", "mallory")).json()
    assert failed["state"] == "failed", failed
    assert failed["error"] and failed["finished_at"], failed


async def test_a_user_id_longer_than_any_id_is_a_422(svc: Categorizer) -> None:
    """3,000 characters failed PostgreSQL's index-row limit on user_context's key: a 500."""
    r = await svc.call(
        "POST", "/v1/rules", "ops", kind="service", params={"user_id": "u" * 3000}, json=COFFEE_RULE
    )
    assert r.status_code == 422, r.text
