"""Ingestion: producers that already exist (OTLP, syslog, RELP, Kubernetes audit) feed the log."""
