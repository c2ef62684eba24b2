"""What routes hand work to, injected with ``Depends`` so tests override them (``app.dependency_overrides``)
instead of patching modules: the dispatcher that enqueues jobs' stages, and the file gateway that runs host
I/O in a worker (the API never opens an SSH connection)."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import Depends

from dlws_flow.services.files import FileGateway


def get_dispatcher() -> Any:
    # Imported on first use, deliberately: importing the Celery app reads celeryconfig, which for the embedded
    # broker creates its folders; the OpenAPI document and read-only routes need none of it.
    from workers.dispatch import CeleryDispatcher

    return CeleryDispatcher()


@functools.cache
def _celery_gateway() -> FileGateway:
    from workers.file_gateway import CeleryFileGateway  # on first use, as get_dispatcher

    return CeleryFileGateway()


def get_file_gateway() -> FileGateway:
    return _celery_gateway()


Dispatcher = Annotated[Any, Depends(get_dispatcher)]
Gateway = Annotated[FileGateway, Depends(get_file_gateway)]
