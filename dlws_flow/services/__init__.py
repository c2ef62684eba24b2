"""Services shared by the API, the CLI, the Python client and the workers."""
