"""Tapis search and listing of jobs, apps and systems through the API, on real rows: each operator, paging
(limit, skip, startAfter), computeTotal, select, listType, and that no search reveals (by record or by count)
what the caller may not see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from tests.api.test_families import HOST_KEY

RUN = uuid.uuid4().hex[:6]
OWNER, OTHER, ADMIN = f"srch_own_{RUN}", f"srch_oth_{RUN}", f"srch_adm_{RUN}"
BASE = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def client():
    from api.app import create_app
    from dlws_flow.services.auth import create_user

    with TestClient(create_app()) as test_client:
        for name in (OWNER, OTHER):
            create_user(name, f"{name}-password", replace=True)
        create_user(ADMIN, f"{ADMIN}-password", replace=True, admin=True)
        yield test_client


def headers_of(name: str) -> dict[str, str]:
    from dlws_flow.services.auth import get_user, issue_token

    return {"X-Tapis-Token": issue_token(get_user(name))["access_token"]}


@pytest.fixture(scope="module")
def jobs(client) -> dict[str, list[str]]:
    """Ten jobs of OWNER (a day apart, statuses alternating, one hidden) and five of OTHER, one shared."""
    from dlws_flow.services import jobs as job_service
    from dlws_flow.services.auth import Principal
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import JobRow

    made: dict[str, list[str]] = {OWNER: [], OTHER: []}
    rows = []
    for owner, count in ((OWNER, 10), (OTHER, 5)):
        for n in range(count):
            job_uuid = f"{uuid.uuid4()}-007"
            made[owner].append(job_uuid)
            when = BASE + timedelta(days=n)
            rows.append({"uuid": job_uuid, "name": f"{owner}-job-{n}", "owner": owner, "tenant": "dlws",
                         "status": "FINISHED" if n % 2 == 0 else "FAILED", "app_id": f"app-{RUN}",
                         "app_version": "1", "job_type": "FORK", "exec_system_id": f"sys-{RUN}",
                         "archive_system_id": f"sys-{RUN}", "request": {}, "spec": {"nodeCount": n + 1},
                         "created": when, "last_updated": when, "visible": not (owner == OWNER and n == 9),
                         "exit_code": n, "remote_checks_success": n})
    with session_scope() as session:
        session.execute(insert(JobRow), rows)
    job_service.share(Principal(OTHER, "dlws"), made[OTHER][0], OWNER)
    return made


def search(client, who: str, path: str = "/v3/jobs/search", body=None, **params):
    if body is not None:
        response = client.post(path, params=params, json=body, headers=headers_of(who))
    else:
        response = client.get(path, params=params, headers=headers_of(who))
    return response


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["result"]]


def mine(*numbers: int) -> list[str]:
    return [f"{OWNER}-job-{n}" for n in numbers]


@pytest.mark.parametrize(("params", "expected"), [
    ({"name.eq": f"{OWNER}-job-3"}, [3]),
    ({"name": f"{OWNER}-job-3"}, [3]),
    ({"status.neq": "FINISHED"}, [7, 5, 3, 1]),
    ({"exitCode.gt": "6"}, [8, 7]),
    ({"exitCode.gte": "6"}, [8, 7, 6]),
    ({"remoteChecksSuccess.lt": "2"}, [1, 0]),
    ({"remoteChecksSuccess.lte": "1"}, [1, 0]),
    ({"exitCode.in": "1,4,8"}, [8, 4, 1]),
    ({"exitCode.nin": "0,1,2,3,4,5,6"}, [8, 7]),
    ({"name.like": f"{OWNER}-job-*"}, [8, 7, 6, 5, 4, 3, 2, 1, 0]),
    ({"name.like": f"{OWNER}-job-!"}, [8, 7, 6, 5, 4, 3, 2, 1, 0]),
    ({"name.nlike": "*-job-[0-4]*"}, [8, 7, 6, 5, 4, 3, 2, 1, 0]),  # no wildcard classes: [ is literal
    ({"name.nlike": f"{OWNER}-job-1*"}, [8, 7, 6, 5, 4, 3, 2, 0]),
    ({"created.between": "2024-01-02,2024-01-04T00:00:00Z"}, [3, 2, 1]),
    ({"created.nbetween": "2024-01-02,2024-01-08"}, [8, 0]),
    ({"nodeCount.gte": "8", "status": "finished"}, [8]),
])
def test_each_operator_on_real_rows(client, jobs, params, expected):
    assert names(search(client, OWNER, **params)) == mine(*expected)


def test_the_search_parameter_and_the_post_body_forms(client, jobs):
    assert names(search(client, OWNER, "/v3/jobs/search", body={"search": ["(exitCode.lt.3)", "(status.eq.FINISHED)"]})) \
        == mine(2, 0)
    sql = {"search": ["(exit_code < 3 AND status = 'FINISHED') OR", f"(name IN ('{OWNER}-job-7', 'x'))"]}
    assert names(search(client, OWNER, "/v3/jobs/search", body=sql)) == mine(7, 2, 0)
    sql = {"search": [f"name LIKE '{OWNER}-job-_' AND exitCode NOT BETWEEN 1 AND 7"]}
    assert names(search(client, OWNER, "/v3/jobs/search", body=sql)) == mine(8, 0)
    refused = search(client, OWNER, "/v3/jobs/search", body={"search": ["name IS NULL"]})
    assert refused.status_code == 400 and "IS NULL" in refused.json()["message"]


@pytest.mark.parametrize(("params", "needle"), [
    ({"nosuch.eq": "x"}, "nosuch"), ({"fileInputs.eq": "x"}, "cannot be searched"), ({"name.near": "x"}, "near"),
    ({"exitCode.eq": "one"}, "not an integer"), ({"created.gt": "yesterday"}, "timestamp"),
    ({"status.eq": "DONE"}, "DONE"), ({"created.like": "2024*"}, "like"), ({"select": "uuid,bogus"}, "bogus"),
    ({"orderBy": "created(sideways)"}, "orderBy"), ({"startAfter": "2024-01-01"}, "needs orderBy"),
    ({"orderBy": "created", "startAfter": "2024-01-01", "skip": "2"}, "not both"), ({"listType": "EVERYONE"}, "listType"),
    ({"name.eq": "a(b"}, "escape"), ({"exitCode.between": "1"}, "two values"),
])
def test_what_a_search_does_not_take_is_a_400_naming_it(client, jobs, params, needle):
    response = search(client, OWNER, **params)
    assert response.status_code == 400 and needle in response.json()["message"], response.text


def test_paging_with_limit_skip_start_after_and_total(client, jobs):
    first = search(client, OWNER, "/v3/jobs/list", limit=3, orderBy="created(asc)", computeTotal="true")
    assert names(first) == mine(0, 1, 2)
    assert first.json()["metadata"] == {"recordCount": 3, "recordLimit": 3, "recordsSkipped": 0,
                                        "orderBy": "created(asc)", "startAfter": "", "totalCount": 9}
    assert names(search(client, OWNER, "/v3/jobs/list", limit=3, skip=3, orderBy="created(asc)")) == mine(3, 4, 5)
    after = first.json()["result"][-1]["created"]
    page = search(client, OWNER, "/v3/jobs/list", limit=3, orderBy="created(asc)", startAfter=after)
    assert names(page) == mine(3, 4, 5) and page.json()["metadata"]["totalCount"] == -1
    assert names(search(client, OWNER, "/v3/jobs/list", orderBy="status(desc),exitCode(desc)", limit=4)) \
        == mine(8, 6, 4, 2)
    assert len(names(search(client, OWNER, "/v3/jobs/list", limit=-1))) == 9  # -1: all (the hidden job never)


def test_select_applies_to_the_records(client, jobs):
    listed = search(client, OWNER, "/v3/jobs/list", limit=1).json()["result"][0]
    assert set(listed) <= {"uuid", "name", "owner", "appId", "created", "status", "condition", "remoteStarted",
                           "ended", "tenant", "execSystemId", "archiveSystemId", "appVersion", "lastUpdated"}
    chosen = search(client, OWNER, select="name,exit_code", limit=1).json()["result"][0]
    assert set(chosen) == {"uuid", "name", "exitCode"}  # the key always comes, snake_case names resolve
    full = search(client, OWNER, select="allAttributes", limit=1).json()["result"][0]
    assert {"parameterSet", "fileInputs", "nodeCount"} <= set(full)


def test_list_types_and_two_users_see_only_what_they_may(client, jobs):
    shared = f"{OTHER}-job-0"
    assert shared not in names(search(client, OWNER, "/v3/jobs/list"))  # MY_JOBS by default
    assert names(search(client, OWNER, "/v3/jobs/list", listType="SHARED_JOBS")) == [shared]
    assert shared in names(search(client, OWNER, "/v3/jobs/list", listType="ALL_JOBS"))
    # OTHER's unshared jobs: no search, list type or count reveals them to OWNER.
    for list_type in ("MY_JOBS", "SHARED_JOBS", "ALL_JOBS"):
        found = search(client, OWNER, listType=list_type, computeTotal="true", **{"owner.eq": OTHER})
        assert names(found) == ([shared] if list_type != "MY_JOBS" else [])
        assert found.json()["metadata"]["totalCount"] == len(names(found))
        sql = search(client, OWNER, body={"search": [f"owner = '{OTHER}' OR name LIKE '%'"]}, listType=list_type,
                     computeTotal="true", limit=-1)
        assert not set(names(sql)) & {f"{OTHER}-job-{n}" for n in range(1, 5)}
        assert sql.json()["metadata"]["totalCount"] == len(names(sql))
    assert OTHER not in {r["owner"] for r in search(client, ADMIN, "/v3/jobs/list").json()["result"]}
    everyone = search(client, ADMIN, "/v3/jobs/list", listType="ALL_JOBS", limit=-1)
    assert {f"{OTHER}-job-{n}" for n in range(5)} <= set(names(everyone))  # an admin's ALL_JOBS: every job


@pytest.fixture(scope="module")
def catalog(client) -> dict[str, str]:
    """Two systems and an app (two versions) of OWNER, one system of OTHER shared with OWNER, one not."""
    ids = {"mine1": f"srch-a-{RUN}", "mine2": f"srch-b-{RUN}", "theirs": f"srch-c-{RUN}", "private": f"srch-d-{RUN}",
           "app": f"srch-app-{RUN}"}
    for key, owner, port in (("mine1", OWNER, 22), ("mine2", OWNER, 2222), ("theirs", OTHER, 22),
                             ("private", OTHER, 22)):
        record = {"id": ids[key], "systemType": "LINUX", "host": f"{key}.example.org", "port": port,
                  "effectiveUserId": "hpc", "canExec": key != "mine2", "rootDir": "/home/hpc", "jobWorkingDir": "/w",
                  "notes": {"hostKey": HOST_KEY}}
        assert client.post("/v3/systems", json=record, headers=headers_of(owner)).status_code == 201
    assert client.post(f"/v3/systems/share/{ids['theirs']}", json={"users": [OWNER]},
                       headers=headers_of(OTHER)).status_code == 200
    for version in ("1", "2"):
        app = {"id": ids["app"], "version": version, "containerImage": "/img.sif",
               "jobAttributes": {"execSystemId": ids["mine1"]}}
        assert client.post("/v3/apps", json=app, headers=headers_of(OWNER)).status_code == 201
    return ids


def ids_of(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["result"]]


def test_systems_search_list_types_and_select(client, catalog):
    prefix = f"srch-*-{RUN}"
    assert ids_of(search(client, OWNER, "/v3/systems", search=f"(id.like.{prefix})")) == [catalog["mine1"],
                                                                                          catalog["mine2"]]
    every = search(client, OWNER, "/v3/systems", search=f"(id.like.{prefix})", listType="ALL", computeTotal="true")
    assert ids_of(every) == [catalog["mine1"], catalog["mine2"], catalog["theirs"]]
    assert every.json()["metadata"]["totalCount"] == 3  # the unshared system is not counted
    assert ids_of(search(client, OWNER, "/v3/systems/search", **{"port.gt": "1024", "id.like": prefix})) \
        == [catalog["mine2"]]
    body = {"search": [f"id LIKE 'srch-%-{RUN}' AND (canExec = false OR port < 23)"]}
    assert ids_of(search(client, OWNER, "/v3/systems/search", body=body, orderBy="id(desc)")) \
        == [catalog["mine2"], catalog["mine1"]]
    summary = search(client, OWNER, "/v3/systems", search=f"id.eq.{catalog['mine1']}").json()["result"][0]
    assert set(summary) == {"id", "systemType", "owner", "host", "effectiveUserId", "defaultAuthnMethod", "canExec"}
    assert ids_of(search(client, OWNER, "/v3/systems", listType="SHARED_PUBLIC")) == []
    refused = search(client, OWNER, "/v3/systems", hasCredentials="true")
    assert refused.status_code == 400 and "hasCredentials" in refused.json()["message"]


def test_deleted_systems_show_only_when_asked(client, catalog):
    assert client.post(f"/v3/systems/{catalog['mine2']}/delete", headers=headers_of(OWNER)).status_code == 200
    try:
        wanted = f"(id.eq.{catalog['mine2']})"
        assert ids_of(search(client, OWNER, "/v3/systems", search=wanted)) == []
        assert ids_of(search(client, OWNER, "/v3/systems", search=wanted, showDeleted="true")) == [catalog["mine2"]]
    finally:
        assert client.post(f"/v3/systems/{catalog['mine2']}/undelete", headers=headers_of(OWNER)).status_code == 200


def test_apps_latest_version_and_version_search(client, catalog):
    app = catalog["app"]
    listed = search(client, OWNER, "/v3/apps", search=f"(id.eq.{app})").json()["result"]
    assert listed == [{"id": app, "version": "2", "owner": OWNER}]
    versions = search(client, OWNER, "/v3/apps/search", **{"id": app, "version.in": "1,2"}, orderBy="version")
    assert [r["version"] for r in versions.json()["result"]] == ["1", "2"]
    assert search(client, OTHER, "/v3/apps", search=f"(id.eq.{app})", listType="ALL", computeTotal="true"
                  ).json()["metadata"]["totalCount"] == 0


def test_the_domain_fields_and_the_store_columns_agree():
    from dlws_flow.domain.listing_resources import APPS, JOB_ATTRIBUTES, JOBS, SYSTEMS
    from dlws_flow.services.job_views import job_to_dict
    from dlws_flow.store.models import JobRow
    from dlws_flow.store.repositories.search import COLUMNS

    for resource in (JOBS, APPS, SYSTEMS):
        assert set(COLUMNS[resource.kind]) == set(resource.fields), resource.kind
        assert set(resource.summary) | set(resource.keys) <= resource.attributes
    row = JobRow(uuid="u", spec={}, request={}, remote_checks_success=0, remote_checks_failed=0, blocked_count=0)
    assert set(job_to_dict(row)) == JOB_ATTRIBUTES


def test_a_page_of_plain_fields_is_what_the_whole_records_show(client, jobs):
    """A page whose selected fields are all plain columns is read as columns (``repo.PLAIN_FIELDS``): it
    must show exactly what the whole records show for those fields."""
    from dlws_flow.domain.listing import ListRequest
    from dlws_flow.services import jobs as job_service
    from dlws_flow.services.auth import Principal
    from dlws_flow.store import repositories as repo

    caller = Principal(OWNER, "dlws")
    fields = sorted(repo.PLAIN_FIELDS["job"])
    for select in ("summaryAttributes", ",".join(fields)):
        plain = job_service.search_page(caller, ListRequest(select=select, order_by="created(desc)")).records
        whole = job_service.search_page(caller, ListRequest(select="allAttributes", order_by="created(desc)")).records
        assert plain and len(plain) == len(whole)
        for short, full in zip(plain, whole, strict=True):
            assert short == {name: full[name] for name in short}, short["uuid"]
