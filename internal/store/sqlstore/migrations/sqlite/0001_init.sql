-- gridlink schema, SQLite dialect.
--
-- Times are INTEGER epoch seconds (UTC). Booleans are INTEGER 0/1. Public ids
-- (accounts, meters, bills) are unique per user only, so every read is scoped
-- by user_row_id. Every foreign-key child column is indexed, so cascading
-- deletes never scan a whole table.

CREATE TABLE clients (
    pk            INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    secret_hash   BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL, -- JSON array of strings
    origins       TEXT    NOT NULL, -- JSON array of strings
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    row_id               TEXT    PRIMARY KEY,
    client_id            TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id              TEXT    NOT NULL,
    utility_id           INTEGER NOT NULL,
    utility_username     TEXT    NOT NULL,
    credentials_valid    INTEGER NOT NULL,
    credential           BLOB,
    data_ready           INTEGER NOT NULL DEFAULT 0,
    sync_status          TEXT    NOT NULL,
    sync_last_success_at INTEGER,
    sync_last_attempt_at INTEGER,
    sync_next_attempt_at INTEGER,
    sync_error_code      TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (client_id, user_id)
) STRICT;

CREATE TABLE connect_sessions (
    id               TEXT    PRIMARY KEY,
    cookie_hash      BLOB,
    token_hash       BLOB,
    client_id        TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id          TEXT    NOT NULL,
    update_mode      INTEGER NOT NULL,
    token_utility_id INTEGER NOT NULL,
    utility_id       INTEGER NOT NULL,
    embedded         INTEGER NOT NULL,
    redirect_uri     TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    has_state        INTEGER NOT NULL,
    step             TEXT    NOT NULL,
    login_attempts   INTEGER NOT NULL,
    mfa_attempts     INTEGER NOT NULL,
    pending          BLOB,
    mfa_prompt       TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX connect_sessions_client ON connect_sessions (client_id);

-- One row per connect token that completed a connection.
CREATE TABLE used_connect_tokens (
    token_hash   BLOB    PRIMARY KEY,
    session_id   TEXT    NOT NULL REFERENCES connect_sessions (id) ON DELETE CASCADE,
    completed_at INTEGER NOT NULL
) STRICT;
CREATE INDEX used_connect_tokens_session ON used_connect_tokens (session_id);

CREATE TABLE auth_codes (
    code_hash   BLOB    PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    user_row_id TEXT    NOT NULL REFERENCES users (row_id) ON DELETE CASCADE,
    session_id  TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER
) STRICT;
CREATE INDEX auth_codes_user ON auth_codes (user_row_id);

CREATE TABLE access_tokens (
    token_hash  BLOB    PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    user_row_id TEXT    NOT NULL REFERENCES users (row_id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX access_tokens_user ON access_tokens (user_row_id);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);

CREATE TABLE accounts (
    pk          INTEGER PRIMARY KEY,
    user_row_id TEXT    NOT NULL REFERENCES users (row_id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    external_id TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    UNIQUE (user_row_id, id),
    UNIQUE (user_row_id, external_id)
) STRICT;

CREATE TABLE meters (
    pk          INTEGER PRIMARY KEY,
    account_pk  INTEGER NOT NULL REFERENCES accounts (pk) ON DELETE CASCADE,
    user_row_id TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    external_id TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    UNIQUE (user_row_id, id),
    UNIQUE (account_pk, external_id)
) STRICT;

CREATE TABLE intervals (
    meter_pk     INTEGER NOT NULL REFERENCES meters (pk) ON DELETE CASCADE,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    usage        REAL    NOT NULL,
    ghg          REAL    NOT NULL,
    PRIMARY KEY (meter_pk, period_start)
) STRICT, WITHOUT ROWID;

CREATE TABLE bills (
    pk               INTEGER PRIMARY KEY,
    account_pk       INTEGER NOT NULL REFERENCES accounts (pk) ON DELETE CASCADE,
    user_row_id      TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    external_id      TEXT    NOT NULL,
    start_date       INTEGER,
    end_date         INTEGER,
    statement_date   INTEGER,
    due_date         INTEGER,
    payment_date     INTEGER,
    total_amount_due REAL,
    total_charges    REAL,
    electric_charge  REAL,
    gas_charge       REAL,
    other_charge     REAL,
    electric_kwh     REAL,
    gas_therm        REAL,
    UNIQUE (user_row_id, id),
    UNIQUE (account_pk, external_id)
) STRICT;

CREATE TABLE bill_pdfs (
    bill_pk INTEGER PRIMARY KEY REFERENCES bills (pk) ON DELETE CASCADE,
    pdf     BLOB    NOT NULL
) STRICT;
