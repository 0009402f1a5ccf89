-- The `seq` range a releasing row stands for (contiguous, checked by `outbox.release_batch`): the relay
-- reads a batch by ranges, knows where it ends, and sends small batches and plain rows in one step.
ALTER TABLE outbox ADD COLUMN batch_first bigint, ADD COLUMN batch_last bigint;
