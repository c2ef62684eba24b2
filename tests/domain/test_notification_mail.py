import json

from dlws_flow.domain.notification_mail import compose


def event(name: str, **data) -> dict:
    return {"subject": "u-1", "type": "jobs.JOB_NEW_STATUS.FAILED", "timestamp": "2026-12-01T10:00:00",
            "data": json.dumps({"jobUuid": "u-1", "jobName": name, "oldJobStatus": "RUNNING",
                                "newJobStatus": "FAILED", "message": "exit 3", **data})}


def test_a_job_name_with_line_breaks_stays_in_the_subject_line():
    message = compose(event("x\r\nBcc: victim@example.org\r\n\r\nbody"), sender="jobs@dlws.test",
                      recipient="a@b.org", job_url="http://h/v3/jobs/u-1")
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    assert message["Subject"] == "[dlws-flow] job x Bcc: victim@example.org body is FAILED"
    assert "RUNNING -> FAILED" in message.get_content() and "exit 3" in message.get_content()


def test_a_long_name_is_shortened_and_a_user_event_is_named():
    message = compose({"subject": "u-2", "type": "jobs.JOB_USER_EVENT.USER_EVENT",
                       "data": json.dumps({"jobName": "n" * 300})}, sender="s@d", recipient="a@b.org", job_url="l")
    assert len(message["Subject"]) < 130 and message["Subject"].endswith(": USER_EVENT")
