"""Schemathesis against a running service, as a developer runs it (its CLI), from the app's own OpenAPI
document: whatever it sends, the answer is never a 5xx, its status is documented for the operation, and
its body matches the documented schema.

    report = await fuzz_openapi(app.openapi(), base_url, tmp_path, headers={"Authorization": "Bearer ..."},
                                parameters={"path.item_id": "item-1"},
                                operations={"/internal/v1/items/{item_id}/access-token": {...headers}})
    # raises AssertionError with the end of the report when a check fails

Bounded (`max_examples` per operation and phase, one worker: hypothesis describes its strategies with
`ast`, which Python 3.11 cannot run in threads) so that it runs in `make test` in well under a minute.
"""

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SEED = "20261129"


def _toml(
    headers: Mapping[str, str], parameters: Mapping[str, str], operations: Mapping[str, Mapping[str, str]]
) -> str:
    def table(values: Mapping[str, str]) -> str:
        return "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in values.items()) + " }"

    lines = [f"headers = {table(headers)}", ""]
    if parameters:
        lines += ["[parameters]", *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in parameters.items()), ""]
    for path, op_headers in operations.items():
        lines += [
            "[[operations]]",
            f"include-path = {json.dumps(path)}",
            f"headers = {table(op_headers)}",
            "",
        ]
    return "\n".join(lines)


async def fuzz_openapi(
    document: Mapping[str, Any],
    base_url: str,
    workdir: Path,
    *,
    headers: Mapping[str, str],
    parameters: Mapping[str, str] | None = None,
    operations: Mapping[str, Mapping[str, str]] | None = None,
    max_examples: int = 10,
    limit_seconds: float = 240.0,
) -> str:
    """Run schemathesis; the report (AssertionError with its end when any check failed)."""
    spec = workdir / "openapi.json"
    spec.write_text(json.dumps(document))
    config = workdir / "schemathesis.toml"
    config.write_text(_toml(headers, parameters or {}, operations or {}))
    run = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        str(spec),
        "--url",
        base_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(max_examples),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report-dir",
        str(workdir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=workdir,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=limit_seconds)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-12000:]
    assert "passed" in report.lower(), report[-4000:]
    return report
