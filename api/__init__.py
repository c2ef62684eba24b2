"""HTTP API (FastAPI). The Tapis v3, OpenPAI v1 and DLWS child routes hang off ``create_app``."""
