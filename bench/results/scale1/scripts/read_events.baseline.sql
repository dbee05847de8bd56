SELECT * FROM cmp.event WHERE event_id > 0 AND account_id = 341 ORDER BY event_id LIMIT 1000;
