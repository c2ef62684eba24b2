"""What runs jobs, below the use cases (``dlws_flow.services``): it imports adapters, store and domain, never
``services``, ``workers`` or ``api``. What other parts must do when a job ends they register in ``hooks``.

Moving in step by step (docs/architecture.md, "Layers"): ``hosts`` (opening transports for a job),
``families`` (a job's family token and service variables) and ``hooks`` live here already; the stage
functions, recovery and the reconciler.
"""
