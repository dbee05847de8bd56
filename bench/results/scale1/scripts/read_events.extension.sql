SELECT * FROM cmp.read_events('bench', 1000);
