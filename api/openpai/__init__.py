"""OpenPAI REST v1 (``/api/v1``, ``../shared/seeds/openpai-rest-server.txt``): tokens, users, jobs and
virtual clusters, with OpenPAI's error bodies ``{"error": "<Name>", "message": "..."}``."""

from api.envelope import register_error_format
from api.openpai.errors import openpai_error

register_error_format("/api/v1", openpai_error)
