"""Scheduler profile records and the lines a job takes from one (no I/O)."""

import pytest
from pydantic import ValidationError as PydanticValidationError

from dlws_flow.domain.scheduler_profile import (
    SchedulerProfileSpec,
    from_resource,
    from_system_record,
    module_load_line,
)
from dlws_flow.errors import ValidationError


def test_module_load_words_are_quoted():
    assert module_load_line("module load", ["tacc-apptainer", "a b", "$(id)"]) == "module load tacc-apptainer 'a b' '$(id)'"
    assert module_load_line("export", ["MARK=it ran"]) == "export 'MARK=it ran'"


def test_a_tapis_profile_gives_lines_and_hidden_options():
    profile = from_resource("p", [{"moduleLoadCommand": "ml", "modulesToLoad": ["x"]}, {"moduleLoadCommand": "module purge"}],
                            ["MEM"])
    assert profile.setup_lines == ("ml x", "module purge") and profile.hidden_options == {"MEM"}
    assert profile.source == "tapis"


def test_a_system_records_profile_keeps_its_setup_lines_after_the_module_loads():
    profile = from_system_record("hpc", {"name": "p", "setupLines": ["export A=1"], "hiddenOptions": ["PARTITION"],
                                         "moduleLoads": [{"moduleLoadCommand": "module load", "modulesToLoad": ["m"]}]})
    assert profile.setup_lines == ("module load m", "export A=1") and profile.hidden_options == {"PARTITION"}


@pytest.mark.parametrize("profile", [{"name": "p", "hiddenOptions": ["NODES"]},
                                     {"name": "p", "moduleLoads": [{"modulesToLoad": ["m"]}]},
                                     {"name": "p", "moduleLoads": [{"moduleLoadCommand": " "}]}])
def test_a_system_records_profile_that_cannot_be_used_fails_naming_it(profile):
    with pytest.raises(ValidationError, match="scheduler profile 'p' of system hpc"):
        from_system_record("hpc", profile)


def test_hidden_options_are_kept_once_each():
    assert SchedulerProfileSpec(name="p", hiddenOptions=["MEM", "MEM", "PARTITION"]).hiddenOptions == ["MEM", "PARTITION"]


@pytest.mark.parametrize("name", ["p", "tacc-apptainer.v2_x~1", "P" * 80])
def test_tapis_names(name):
    assert SchedulerProfileSpec(name=name).name == name


@pytest.mark.parametrize("name", ["", "1p", "-p", "a b", "p/q", "p\n", "P" * 81])
def test_names_tapis_refuses(name):
    with pytest.raises(PydanticValidationError):
        SchedulerProfileSpec(name=name)
