"""The expansion of a sweep request into its elements (``domain.sweeps``): lists, ranges, product and zip, the
element requests, and every malformed request refused with a message naming what is wrong."""

from __future__ import annotations

import pytest

from dlws_flow.domain.sweeps import element_request, parse_sweep
from dlws_flow.errors import ValidationError

JOB = {"name": "fit", "appId": "a", "appVersion": "1",
       "parameterSet": {"envVariables": [{"key": "FIXED", "value": "x"}, {"key": "N", "value": "old"}]}}


def test_product_varies_the_first_parameter_slowest():
    name, job, assignments = parse_sweep({"job": JOB, "parameters": {"N": [1, 2], "SEED": {"start": 0, "stop": 6, "step": 2}}}, 100)
    assert (name, job) == ("fit", JOB)
    assert assignments == [{"N": "1", "SEED": "0"}, {"N": "1", "SEED": "2"}, {"N": "1", "SEED": "4"},
                           {"N": "2", "SEED": "0"}, {"N": "2", "SEED": "2"}, {"N": "2", "SEED": "4"}]


def test_zip_pairs_the_ith_values_and_booleans_read_as_in_shells():
    _, _, assignments = parse_sweep({"name": "z", "job": JOB, "combine": "zip",
                                     "parameters": {"A": ["x", "y"], "B": [True, 2.5]}}, 100)
    assert assignments == [{"A": "x", "B": "true"}, {"A": "y", "B": "2.5"}]


def test_an_element_request_carries_its_values_in_the_environment():
    request = element_request(JOB, "fit", "sw-1", 3, {"N": "7"})
    assert request["name"] == "fit-3" and request["appId"] == "a"
    assert request["parameterSet"]["envVariables"] == [
        {"key": "FIXED", "value": "x"}, {"key": "N", "value": "7"}, {"key": "DLWS_SWEEP_ID", "value": "sw-1"},
        {"key": "DLWS_SWEEP_INDEX", "value": "3"}]
    assert JOB["parameterSet"]["envVariables"][1] == {"key": "N", "value": "old"}  # the template is untouched


@pytest.mark.parametrize(("request_", "needle"), [
    ({"job": JOB, "parameters": {"N": [1]}, "extra": 1}, "not extra"),
    ({"parameters": {"N": [1]}}, "job:"),
    ({"job": JOB, "parameters": {}}, "parameters:"),
    ({"job": JOB, "parameters": {"1N": [1]}}, "parameters.1N"),
    ({"job": JOB, "parameters": {"DLWS_SWEEP_INDEX": [1]}}, "parameters.DLWS_SWEEP_INDEX"),
    ({"job": JOB, "parameters": {"N": []}}, "at least one value"),
    ({"job": JOB, "parameters": {"N": [{"a": 1}]}}, "strings, numbers or booleans"),
    ({"job": JOB, "parameters": {"N": {"start": 0}}}, "a range is"),
    ({"job": JOB, "parameters": {"N": {"start": 0, "stop": 3, "step": 0}}}, "non-zero step"),
    ({"job": JOB, "parameters": {"N": {"start": 3, "stop": 0}}}, "is empty"),
    ({"job": JOB, "combine": "zip", "parameters": {"A": [1], "B": [1, 2]}}, "same number"),
    ({"job": JOB, "combine": "cross", "parameters": {"A": [1]}}, "combine"),
    ({"job": JOB, "parameters": {"A": {"start": 0, "stop": 11}}}, "more than DLWS_SWEEP_MAX_ELEMENTS (10)"),
])
def test_malformed_requests_are_refused_naming_the_problem(request_, needle):
    with pytest.raises(ValidationError, match=None) as caught:
        parse_sweep(request_, 10)
    assert needle in str(caught.value)
