"""``python -m dlws_flow.cli``: the ``dlws-flow`` command (the integration tests run it so)."""

from dlws_flow.cli import main

if __name__ == "__main__":
    main()
