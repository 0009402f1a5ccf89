"""The public JSON of a transaction built by PostgreSQL: the SQL twin of `domain.views.transaction_view`.

Two places need a transaction's JSON without the row travelling to Python: the projection writes a
change-feed row per applied event in the same statement as the upsert, and list pages are answered as
PostgreSQL builds them (decoding 27 columns, building the view and serializing it costs ~15 us of CPU per
row). `tests/test_projection_view_sql.py` holds this twin equal to `transaction_view`, value for value and
string for string, over rows that exercise every branch.

Formats, as `transaction_view` writes them: money and confidence as JSON numbers (float8: the shortest
text that reads back as the same double, as Python's repr; confidence rounded to 4 digits); dates
`YYYY-MM-DD`; instants in UTC with six fractional digits and `+00:00`.
"""

from typing import Literal


def _instant(col: str) -> str:
    """timestamptz -> `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` of the same instant in UTC (NULL stays NULL)."""
    return f"""to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def transaction_view_sql(t: str, kind: Literal["jsonb", "json"] = "jsonb") -> str:
    """An expression of the public JSON of the transactions row aliased `t`: `jsonb` where it is stored
    (the change feed), `json` where it is only sent (list pages: PostgreSQL writes the text as it builds
    it, keys in this order, instead of building a jsonb tree and then printing it; docs/ledger-api.md)."""
    build, to = f"{kind}_build_object", f"to_{kind}"
    decided = f"""CASE WHEN {t}.category_detailed IS NOT NULL THEN {build}(
        'primary', {t}.category_primary, 'detailed', {t}.category_detailed, 'source', {t}.category_source,
        'confidence', round({t}.category_confidence::float8::numeric, 4)::float8,
        'decided_by', {t}.category_decided_by, 'needs_review', {t}.category_needs_review) END"""
    return f"""{build}(
    'transaction_id', {t}.transaction_id, 'account_id', {t}.account_id, 'item_id', {t}.item_id,
    'amount', {t}.amount::float8, 'iso_currency_code', {t}.iso_currency_code,
    'date', {t}.date, 'authorized_date', {t}.authorized_date, 'datetime', {_instant(f"{t}.datetime")},
    'name', {t}.name, 'merchant_name', {t}.merchant_name, 'pending', {t}.pending,
    'pending_transaction_id', {t}.pending_transaction_id, 'removed', {t}.removed,
    'category', CASE WHEN {t}.user_category_detailed IS NOT NULL THEN {build}(
        'primary', {t}.user_category_primary, 'detailed', {t}.user_category_detailed, 'source', 'user',
        'confidence', 1.0, 'decided_by', 'user', 'needs_review', false)
      ELSE {decided} END,
    'categorizer_category', {decided},
    'user', {build}(
        'notes', {t}.user_notes, 'tags', {to}(coalesce({t}.user_tags, '{{}}'::text[])),
        'hidden', {t}.user_hidden,
        'category', CASE WHEN {t}.user_category_detailed IS NOT NULL THEN {build}(
            'primary', {t}.user_category_primary, 'detailed', {t}.user_category_detailed) END),
    'version', {t}.version, 'updated_at', {_instant(f"{t}.updated_at")})"""
