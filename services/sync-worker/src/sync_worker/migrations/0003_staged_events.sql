-- A run's TransactionChanged events, written page by page while the run is still paging (COPY, off the
-- commit's critical path), invisible to the relay. The run's commit moves them into the outbox in one
-- INSERT ... SELECT in the same transaction as the cursor; a restarted or abandoned attempt's rows are
-- deleted (by the commit, a failure, or the next claim of the Item). UNLOGGED: losing them in a
-- PostgreSQL crash only means the run is redone, which it would be anyway.
CREATE UNLOGGED TABLE staged_events (
    attempt_id  uuid   NOT NULL,
    item_id     text   NOT NULL,
    seq         bigint NOT NULL,
    event_id    uuid   NOT NULL,
    topic       text   NOT NULL,
    key         text   NOT NULL,
    event_type  text   NOT NULL,
    payload     bytea  NOT NULL,
    PRIMARY KEY (attempt_id, seq)
);
CREATE INDEX staged_events_item ON staged_events (item_id);
