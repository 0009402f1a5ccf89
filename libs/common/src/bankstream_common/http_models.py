"""The base of every request body model: text a caller sends must be text PostgreSQL can store.

JSON can carry `\\u0000` and unpaired surrogates (`\\ud800`); PostgreSQL refuses both, which would surface
as a 500 deep inside a handler. A `RequestModel` refuses them at the door, as a 422 naming the field.
"""

from typing import Any

from pydantic import BaseModel, SecretStr, model_validator


def unstorable_at(value: Any, where: str = "") -> str | None:
    """The path of the first string holding NUL or a lone surrogate, or None."""
    if isinstance(value, SecretStr):  # checked as any text; only the field's path is ever reported
        value = value.get_secret_value()
    if isinstance(value, str):
        if "\x00" in value or not _encodable(value):
            return where or "value"
        return None
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable_at(key, where) or unstorable_at(item, f"{where}.{key}" if where else str(key))
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = unstorable_at(item, f"{where}[{index}]")
            if found:
                return found
    return None


def _encodable(value: str) -> bool:
    """False for a lone surrogate (UTF-8 cannot encode one): a C-speed check, a megabyte-long CSV too."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RequestModel(BaseModel):
    @model_validator(mode="after")
    def _storable_text(self) -> "RequestModel":
        field = unstorable_at(dict(self))
        if field is not None:
            raise ValueError(f"{field} contains a NUL character or an unpaired surrogate")
        return self
