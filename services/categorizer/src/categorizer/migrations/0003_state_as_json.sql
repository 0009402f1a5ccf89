-- A transaction's state is stored as the JSON text the stream serialized (`json`), no longer parsed into
-- `jsonb`: nothing here queries inside it (it is read back whole, `state::text`, and decoded by the
-- service), and building a jsonb tree of every ~1 KB state was a third of the stream's upsert in
-- PostgreSQL's CPU (docs/decisions/0018, "Addendum: the state as json").
ALTER TABLE transactions ALTER COLUMN state TYPE json USING state::json;
