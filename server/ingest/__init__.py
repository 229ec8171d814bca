"""Ingestion: producers that already exist (OTLP, syslog, RELP, the Kubernetes audit webhook)
feed the log without code. See docs/ingestion.md."""
