"""`duro worker`: background loops over both modes; Postgres is the queue (01 §12)."""
