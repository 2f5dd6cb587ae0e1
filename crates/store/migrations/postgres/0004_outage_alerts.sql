-- The alert outbox: the alert an outage owes (OFFLINE when it opens, ONLINE when it
-- ends), written in the transaction that changes the outage, so a committed change always
-- has its alert. `owner` is the collator that sends it (another one claims it when the
-- owner's heartbeat stops); `sent_ms` and `event_id` (the Matrix event, which the ONLINE
-- edit replaces) are set once it went out. Kind 0 is OFFLINE, 1 ONLINE.
CREATE TABLE outage_alerts (
    outage_id    BIGINT       NOT NULL,
    kind         SMALLINT     NOT NULL,
    owner        VARCHAR(128) NOT NULL,
    payload      TEXT         NOT NULL,
    start_ms     BIGINT       NOT NULL,
    end_ms       BIGINT,
    created_ms   BIGINT       NOT NULL,
    sent_ms      BIGINT,
    event_id     VARCHAR(255),
    claimed_from VARCHAR(128),
    PRIMARY KEY (outage_id, kind)
);
CREATE INDEX outage_alerts_unsent ON outage_alerts (owner, sent_ms);
