"""Per-site store-and-forward edge: MQTT intake, durable SQLite buffer, HTTP upload to central."""
