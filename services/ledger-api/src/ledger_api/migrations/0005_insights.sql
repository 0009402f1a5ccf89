-- The insights (GET /v1/insights/*, GET /v1/review). docs/ledger-api.md ("Insights: indexes") gives the
-- EXPLAIN ANALYZE figures behind each one (1,000,000 rows, one user holding 100,000).

-- Spending and cash flow aggregate every counted row of the user in a date window: this index holds all
-- the columns they read, so the aggregate is an Index Only Scan of the window's range, never a visit to
-- the heap (a bitmap heap scan of 100,000 rows costs twice as much). Removed rows are never counted.
CREATE INDEX transactions_user_insights ON transactions (user_id, date, transaction_id)
    INCLUDE (amount, account_id, pending, user_hidden, iso_currency_code, category_primary,
             user_category_primary, category_detailed, user_category_detailed, merchant_name, name)
    WHERE NOT removed;

-- The legs of transfers between the user's own accounts are looked for among transfer-category rows
-- only (domain.insights.TRANSFER_PRIMARIES): a small index, read index-only, then paired by a hash join.
CREATE INDEX transactions_user_transfer_legs ON transactions (user_id, date)
    INCLUDE (transaction_id, amount, account_id)
    WHERE NOT removed
      AND COALESCE(user_category_primary, category_primary) IN ('TRANSFER_IN', 'TRANSFER_OUT', 'LOAN_PAYMENTS');

-- The review queue's "new merchant": is there an earlier row of the same merchant? One index probe.
CREATE INDEX transactions_user_merchant ON transactions (user_id, (COALESCE(merchant_name, name)), date, transaction_id)
    WHERE NOT removed;
