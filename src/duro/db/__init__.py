"""Database: engine, per-mode connections, embedded server, migrations."""
