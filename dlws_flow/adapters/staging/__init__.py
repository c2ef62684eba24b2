"""Moving files: job inputs onto the exec system, outputs to the archive system."""
