"""What runs jobs, below the use cases (``dlws_flow.services``): it imports adapters, store and domain, never
``services``, ``workers``, ``api`` or the CLI and clients (the layers contract in ``pyproject.toml``).

* ``stages``: the stage table ``STAGES`` (task name -> function) that ``workers.tasks`` looks stages up in.
* ``lifecycle``: ``Outcome``, ``enter`` (the one preamble of every stage), ``end_job`` and ``fail_job``.
* The stages, by concern: ``staging`` (``process_inputs``, ``stage_inputs``), ``launch`` (``stage_job``,
  ``submit`` with job-limit admission), ``monitoring`` (batched polling, ``monitor``), ``archiving``
  (``archive``).
* ``control``: an owner's cancel, pause and resume. ``recovery`` and ``probes``: BLOCKED jobs and the probes
  that resume them. ``reconcile``: stages whose task was lost. ``faults``: ``crash_point`` for the tests.
* ``hosts`` (opening a transport for a job's login), ``limits`` (job slots), ``families`` (a job's family
  token and its ``DLWS_REST_API``/``FAMILY_TOKEN``), ``hooks`` (what other parts register to do when a job
  ends).

docs/architecture.md, "The stage table", has what each stage does and why running it twice is harmless.
"""
