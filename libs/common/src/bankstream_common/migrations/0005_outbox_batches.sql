-- Outbox batches: many events staged BEFORE the transaction that commits them (COPY, off that
-- transaction's critical path), then released by that transaction with ONE outbox row naming the batch
-- (`outbox.batch_id`). The relay publishes a released batch's rows in `seq` order at that row's position,
-- deletes them as Kafka acknowledges them, then the releasing row. A batch never released (its writer
-- crashed or gave up) is invisible to the relay and is cleared by its owner (`outbox.discard_unreleased`).
-- LOGGED: once released, these rows are the only copy of the events until Kafka has them.
CREATE TABLE outbox_batch_rows (
    batch_id    uuid   NOT NULL,
    seq         bigint NOT NULL,
    owner       text   NOT NULL,
    event_id    uuid   NOT NULL,
    topic       text   NOT NULL,
    key         text   NOT NULL,
    event_type  text   NOT NULL,
    payload     bytea  NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
CREATE INDEX outbox_batch_rows_owner ON outbox_batch_rows (owner);
ALTER TABLE outbox ADD COLUMN batch_id uuid;
CREATE UNIQUE INDEX outbox_batch ON outbox (batch_id) WHERE batch_id IS NOT NULL;
