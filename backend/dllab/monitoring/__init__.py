"""GPU monitoring's own logic, apart from the database and the API: the latest readings
each host sent (book), how history is bucketed (history) and how alert rules judge readings
(rules)."""
