-- geodns schema, MariaDB 10.11 / MySQL 8. Times are UTC milliseconds since the Unix epoch
-- (BIGINT), so no server or session time zone can shift them. Text compares byte-wise
-- (utf8mb4_bin): member names and keys are case-sensitive identities. Row keys are SHA-256
-- digests of the natural key, so long names never hit InnoDB's index-length limit.

CREATE TABLE requests (
    row_key      BINARY(32)   NOT NULL PRIMARY KEY,
    date         CHAR(10)     NOT NULL,
    node_id      VARCHAR(128) NOT NULL,
    domain_name  VARCHAR(253) NOT NULL,
    member_name  VARCHAR(128) NOT NULL,
    network_asn  VARCHAR(16)  NOT NULL,
    network_name VARCHAR(255) NOT NULL,
    country_code CHAR(2)      NOT NULL,
    country_name VARCHAR(128) NOT NULL,
    is_ipv6      SMALLINT     NOT NULL,
    hits         BIGINT       NOT NULL,
    KEY requests_date (date)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE member_events (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    check_type      VARCHAR(16)  NOT NULL,
    check_name      VARCHAR(64)  NOT NULL,
    member_name     VARCHAR(128) NOT NULL,
    domain_name     VARCHAR(253) NOT NULL,
    endpoint        VARCHAR(512) NOT NULL,
    is_ipv6         SMALLINT     NOT NULL,
    start_ms        BIGINT       NOT NULL,
    end_ms          BIGINT       NULL,
    error           TEXT         NOT NULL,
    vote_data       LONGTEXT     NOT NULL,
    additional_data LONGTEXT     NOT NULL,
    check_key       BINARY(32)   NOT NULL,
    open_key        BINARY(32)   NULL,
    UNIQUE KEY member_events_open (open_key),
    KEY member_events_start (start_ms),
    KEY member_events_member (member_name, start_ms),
    KEY member_events_check (check_key, start_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cluster_messages (
    id        VARCHAR(255) NOT NULL PRIMARY KEY,
    from_node VARCHAR(128) NOT NULL,
    to_node   VARCHAR(128) NOT NULL,
    content   LONGBLOB     NOT NULL,
    ts_ms     BIGINT       NOT NULL,
    KEY cluster_messages_ts (ts_ms),
    KEY cluster_messages_from (from_node, ts_ms),
    KEY cluster_messages_to (to_node, ts_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cluster_state (
    state_key  VARCHAR(255) NOT NULL PRIMARY KEY,
    value      LONGBLOB     NOT NULL,
    updated_ms BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cluster_node_state (
    node_id    VARCHAR(128) NOT NULL PRIMARY KEY,
    state      LONGTEXT     NOT NULL,
    updated_ms BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cluster_consensus_log (
    term       BIGINT   NOT NULL,
    log_index  BIGINT   NOT NULL,
    entry      LONGTEXT NOT NULL,
    created_ms BIGINT   NOT NULL,
    PRIMARY KEY (term, log_index),
    KEY cluster_consensus_log_index (log_index)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cluster_routes (
    destination VARCHAR(255) NOT NULL PRIMARY KEY,
    route       LONGTEXT     NOT NULL,
    updated_ms  BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cluster_runtime_config (
    config_key VARCHAR(255) NOT NULL PRIMARY KEY,
    value      LONGTEXT     NOT NULL,
    updated_ms BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE geodns_health (
    probe      VARCHAR(255) NOT NULL PRIMARY KEY,
    written_ms BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
