-- A flap (an outage shorter than the flap threshold) is deleted when it ends; its
-- tombstone stays until `expires_ms`, so a late copy of its open (another collator, a
-- lagging monitor) is recognised and does not insert it again.
CREATE TABLE outage_tombstones (
    check_key  BYTEA  NOT NULL,
    start_ms   BIGINT NOT NULL,
    end_ms     BIGINT NOT NULL,
    outage_id  BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (check_key, start_ms)
);
CREATE INDEX outage_tombstones_expires ON outage_tombstones (expires_ms);
