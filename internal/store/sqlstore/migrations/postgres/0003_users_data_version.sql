-- A user's data version: a fresh random value written in the same
-- transaction as every change to the user's accounts, meters or intervals,
-- so that readers (the API's response cache) can tell in one row read
-- whether what they derived from that data is still current.
ALTER TABLE users ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
