-- Spending and cash flow add up to 100,000 amounts per answer: PostgreSQL adds numerics several times
-- slower than 64-bit integers (docs/ledger-api.md, "Insights: speed"; ADR 0012). Each row's amount in
-- cents, kept by PostgreSQL itself (exact: amount is numeric(18,2)), is what the aggregates add up, and
-- the insights index holds it in place of the amount. Adding a stored column rewrites the table once.
ALTER TABLE transactions ADD COLUMN amount_cents bigint GENERATED ALWAYS AS ((amount * 100)::bigint) STORED;

DROP INDEX transactions_user_insights;
CREATE INDEX transactions_user_insights ON transactions (user_id, date, transaction_id)
    INCLUDE (amount_cents, account_id, pending, user_hidden, iso_currency_code, category_primary,
             user_category_primary, category_detailed, user_category_detailed, merchant_name, name)
    WHERE NOT removed;
