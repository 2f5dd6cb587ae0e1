-- One outage per check and start time: a decision recorded twice (two collators, a
-- repeated finalize) finds its row instead of adding one. Rows that already repeat a
-- (check, start) are the same outage recorded twice; the first one is kept.
DELETE FROM member_events a USING member_events b
WHERE a.check_key = b.check_key AND a.start_ms = b.start_ms AND a.id > b.id;
CREATE UNIQUE INDEX member_events_check_start ON member_events (check_key, start_ms);
DROP INDEX member_events_check;
