-- geodns schema, SQLite. Times are UTC milliseconds since the Unix epoch (BIGINT), so
-- no server or session time zone can shift them. Row keys are SHA-256 digests of the
-- natural key, so long names never hit index-length limits.

CREATE TABLE requests (
    row_key      BLOB    NOT NULL PRIMARY KEY,
    date         TEXT    NOT NULL,
    node_id      TEXT    NOT NULL,
    domain_name  TEXT    NOT NULL,
    member_name  TEXT    NOT NULL,
    network_asn  TEXT    NOT NULL,
    network_name TEXT    NOT NULL,
    country_code TEXT    NOT NULL,
    country_name TEXT    NOT NULL,
    is_ipv6      INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);
CREATE INDEX requests_date ON requests (date);

CREATE TABLE member_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    check_type      TEXT    NOT NULL,
    check_name      TEXT    NOT NULL,
    member_name     TEXT    NOT NULL,
    domain_name     TEXT    NOT NULL,
    endpoint        TEXT    NOT NULL,
    is_ipv6         INTEGER NOT NULL,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER,
    error           TEXT    NOT NULL,
    vote_data       TEXT    NOT NULL,
    additional_data TEXT    NOT NULL,
    check_key       BLOB    NOT NULL,
    open_key        BLOB    UNIQUE
);
CREATE INDEX member_events_start ON member_events (start_ms);
CREATE INDEX member_events_member ON member_events (member_name, start_ms);
CREATE INDEX member_events_check ON member_events (check_key, start_ms);

CREATE TABLE cluster_messages (
    id        TEXT    NOT NULL PRIMARY KEY,
    from_node TEXT    NOT NULL,
    to_node   TEXT    NOT NULL,
    content   BLOB    NOT NULL,
    ts_ms     INTEGER NOT NULL
);
CREATE INDEX cluster_messages_ts ON cluster_messages (ts_ms);
CREATE INDEX cluster_messages_from ON cluster_messages (from_node, ts_ms);
CREATE INDEX cluster_messages_to ON cluster_messages (to_node, ts_ms);

CREATE TABLE cluster_state (
    state_key  TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE cluster_node_state (
    node_id    TEXT    NOT NULL PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE cluster_consensus_log (
    term       INTEGER NOT NULL,
    log_index  INTEGER NOT NULL,
    entry      TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (term, log_index)
);
CREATE INDEX cluster_consensus_log_index ON cluster_consensus_log (log_index);

CREATE TABLE cluster_routes (
    destination TEXT    NOT NULL PRIMARY KEY,
    route       TEXT    NOT NULL,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE cluster_runtime_config (
    config_key TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE geodns_health (
    probe      TEXT    NOT NULL PRIMARY KEY,
    written_ms INTEGER NOT NULL
);
