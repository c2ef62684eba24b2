"""The e-mail a person receives for a job event: what a webhook gets as JSON (the outbox's event), written
for reading. Pure: the SMTP conversation is ``dlws_flow.adapters.mail``'s.

The job's name comes from its owner, so it is flattened to one line of printable text before it reaches a
header (a line break in a header would let a job name add headers of its own).
"""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")
SUBJECT_NAME_LENGTH = 80


def one_line(text: object, limit: int) -> str:
    """``text`` as one printable line of at most ``limit`` characters."""
    flat = _UNPRINTABLE.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def event_data(event: dict[str, Any]) -> dict[str, Any]:
    """The event's ``data`` (a JSON string in Tapis' events), as a dict; {} when it is not one."""
    data = event.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def compose(event: dict[str, Any], *, sender: str, recipient: str, job_url: str) -> EmailMessage:
    """The message for one notification: subject with the job's name and new state, a plain-text body with
    the job's uuid, the change, its message and a link to the job's page."""
    data = event_data(event)
    uuid = str(event.get("subject") or data.get("jobUuid") or "")
    name = one_line(data.get("jobName") or uuid, SUBJECT_NAME_LENGTH)
    new, old = data.get("newJobStatus"), data.get("oldJobStatus")
    if new:
        subject = f"[dlws-flow] job {name} is {new}"
        change = f"Status:  {old} -> {new}" if old else f"Status:  {new}"
    else:
        kind = str(event.get("type") or "event").rsplit(".", 1)[-1]
        subject = f"[dlws-flow] job {name}: {one_line(kind, 40)}"
        change = f"Event:   {event.get('type')}"
    lines = [f"Job:     {one_line(data.get('jobName') or '', 200)}", f"UUID:    {one_line(uuid, 64)}", change]
    if data.get("message"):
        lines.append(f"Message: {one_line(data['message'], 2000)}")
    if event.get("timestamp"):
        lines.append(f"When:    {event['timestamp']}")
    lines += ["", f"See the job: {job_url}", "",
              "You receive this because a subscription on this job names this address.",
              "Deleting the subscription (DELETE /v3/jobs/subscribe/<uuid>) stops these messages."]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message["X-Dlws-Job"] = one_line(uuid, 64)
    message.set_content("\n".join(lines) + "\n")
    return message


__all__ = ["compose", "event_data", "one_line"]
