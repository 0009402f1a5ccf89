-- A run's TransactionChanged events are now staged in the shared outbox's batches
-- (`outbox_batch_rows`, common migration 0005) and released by the run's commit with one row, instead of
-- being copied from this table into the outbox by that commit (~1.4-1.9 s per 100,000 events, on the
-- critical path of a large backfill). Rows left here belong to runs that never committed: they would be
-- redone anyway.
DROP TABLE IF EXISTS staged_events;
