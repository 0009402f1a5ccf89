"""A strict check of event data against its pydantic model, compiled once, that builds no model object.

Every TransactionChanged a run publishes is checked (~100,000 per large backfill, in the page builder's
processes). `Model.model_validate` would build a model object, and one per nested model, for each event,
only to throw them away. `compile_check(Model)` compiles the model's own core schema (same fields, types,
constraints, defaults, `extra` rule) with every model in it replaced by a typed dict, so pydantic-core
checks the plain dict the event is serialised from, strictly, and returns dicts (it adds about 60% of
what `model_validate` adds to a page's build; figures in docs/sync-worker.md).
The model stays the one contract; a test holds the check to `model_validate` on good and broken events.
"""

from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator


def compile_check(model: type[BaseModel]) -> SchemaValidator:
    """`check.validate_python(data, strict=True)` raises ValidationError where the model would."""
    return SchemaValidator(_without_models(model.__pydantic_core_schema__))


def _without_models(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_models(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") != "model":
        return {k: _without_models(v) for k, v in node.items()}
    fields = node["schema"]
    if fields.get("type") != "model-fields" or node.get("post_init") or node.get("custom_init"):
        raise TypeError(f"{node.get('cls')}: only plain field models can be checked without the model")
    typed: dict[str, Any] = {
        "type": "typed-dict",
        "fields": {
            name: {
                "type": "typed-dict-field",
                "schema": _without_models(field["schema"]),
                "required": field["schema"]["type"] != "default",
            }
            for name, field in fields["fields"].items()
        },
        "extra_behavior": (node.get("config") or {}).get("extra_fields_behavior", "ignore"),
    }
    if node.get("config"):  # the model's own rules (finite numbers only, ...)
        typed["config"] = node["config"]
    if "ref" in node:
        typed["ref"] = node["ref"]
    return typed
