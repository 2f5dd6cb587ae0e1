-- One outage per check and start time: a decision recorded twice (two collators, a
-- repeated finalize) finds its row instead of adding one. Rows that already repeat a
-- (check, start) are the same outage recorded twice; the first one is kept.
DELETE FROM member_events
WHERE id NOT IN (SELECT MIN(id) FROM member_events GROUP BY check_key, start_ms);
CREATE UNIQUE INDEX member_events_check_start ON member_events (check_key, start_ms);
DROP INDEX member_events_check;
