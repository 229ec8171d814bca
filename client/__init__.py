"""The client side: the SDK for services and auditors, and the ``auditlog`` console script."""
