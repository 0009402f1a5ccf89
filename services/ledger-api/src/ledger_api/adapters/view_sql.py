"""The public JSON of a transaction built by PostgreSQL: the SQL twin of `domain.views.transaction_view`.

The projection writes a change-feed row per applied event in the same statement as the upsert, from the
row the upsert returned, so that row never travels to Python to be turned into JSON and back (decoding
27 columns, building the view and serializing it was ~15 us of the consumer's CPU per event). The HTTP
API keeps answering with `transaction_view`; `tests/test_projection_view_sql.py` holds the two equal,
value for value and string for string, over rows that exercise every branch.

Formats, as `transaction_view` writes them: money and confidence as JSON numbers (float8: the shortest
text that reads back as the same double, as Python's repr); dates `YYYY-MM-DD`; timestamps in UTC as
Python's `isoformat()` (`+00:00`, six fractional digits unless there are none).
"""


def _iso_utc(col: str) -> str:
    """timestamptz -> Python's isoformat() of the same instant in UTC (NULL stays NULL)."""
    return (
        f"(to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN extract(microseconds FROM {col}) % 1000000 = 0 THEN ''"
        f" ELSE to_char({col} AT TIME ZONE 'UTC', '.US') END || '+00:00')"
    )


def transaction_view_sql(t: str) -> str:
    """A jsonb expression of the public JSON of the transactions row aliased `t`."""
    decided = (
        f"CASE WHEN {t}.category_primary IS NULL THEN NULL ELSE jsonb_build_object("
        f"'primary', {t}.category_primary, 'detailed', {t}.category_detailed, 'source', {t}.category_source,"
        f" 'confidence', round({t}.category_confidence::float8::numeric, 4)::float8,"
        f" 'decided_by', {t}.category_decided_by"
    )
    return f"""jsonb_build_object(
    'transaction_id', {t}.transaction_id, 'account_id', {t}.account_id, 'item_id', {t}.item_id,
    'amount', {t}.amount::float8, 'iso_currency_code', {t}.iso_currency_code,
    'date', {t}.date, 'authorized_date', {t}.authorized_date, 'datetime', {_iso_utc(f"{t}.datetime")},
    'name', {t}.name, 'merchant_name', {t}.merchant_name, 'pending', {t}.pending,
    'pending_transaction_id', {t}.pending_transaction_id, 'removed', {t}.removed,
    'category', CASE WHEN {t}.user_category_primary IS NOT NULL THEN jsonb_build_object(
        'primary', {t}.user_category_primary, 'detailed', {t}.user_category_detailed, 'source', 'user',
        'confidence', 1.0, 'decided_by', 'user')
      ELSE {decided}) END END,
    'categorizer_category', {decided}, 'needs_review', {t}.category_needs_review) END,
    'user', jsonb_build_object(
        'notes', {t}.user_notes, 'tags', to_jsonb(coalesce({t}.user_tags, '{{}}'::text[])),
        'hidden', {t}.user_hidden,
        'category', CASE WHEN {t}.user_category_primary IS NULL THEN NULL ELSE jsonb_build_object(
            'primary', {t}.user_category_primary, 'detailed', {t}.user_category_detailed) END),
    'version', {t}.version, 'updated_at', {_iso_utc(f"{t}.updated_at")})"""
