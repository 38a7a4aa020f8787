"""Which files of a configured folder are read: links, skipped entries, and files that are no config.

A link out of the project is refused (``pipelines/x.yaml -> /etc/shadow`` once echoed its lines in
errors); everything left out is reported as a warning; a file that is not a config file is named,
never quoted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from interlock.config import ConfigInvalid, load_project
from tests.conftest import MINIMAL_CONFIG, OWN_PREFIX_CONFIG, SIMPLE_ARCHETYPE, ProjectFactory, write

PIPELINE = "name: {name}\narchetype: simple\n"
SECRET = "hunter2-not-for-errors"


@pytest.fixture
def make_project(make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch) -> ProjectFactory:
    """The shared factory, run from inside the project so errors name files as a user sees them."""

    def make(*args: str | None, **files: str) -> Path:
        path = make_project(*(args or (OWN_PREFIX_CONFIG,)), **files)
        monkeypatch.chdir(path.parent)
        return path

    return make


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    return [str(e) for e in exc.value.errors]


def test_a_link_out_of_the_project_is_refused_naming_the_link_and_its_target(
        make_project: ProjectFactory, tmp_path: Path) -> None:
    # Shaped like /etc/shadow: every line ends in ':', so YAML reads it as a mapping of its lines.
    secret = write(tmp_path / "outside" / "shadow", f"root:{SECRET}:20228:0:99999:7:::\n")
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE)
    (path.parent / "pipelines" / "shadow.yaml").symlink_to(secret)
    errors = errors_of(path)
    assert errors == [f"pipelines/shadow.yaml: a link to {secret}, outside the project directory "
                      f"{path.parent.resolve()}; links must stay inside it"]
    assert SECRET not in "".join(errors)


def test_a_link_inside_the_project_is_read(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, shared__orders_yaml=PIPELINE.format(name="orders"))
    (path.parent / "pipelines" / "orders.yaml").symlink_to("../shared/orders.yaml")
    assert list(load_project(path, env={}).pipelines) == ["orders"]


def test_a_configured_folder_that_links_out_of_the_project_is_refused(
        make_project: ProjectFactory, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    write(outside / "orders.yaml", PIPELINE.format(name="orders"))
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE)
    (path.parent / "pipelines").rmdir()
    (path.parent / "pipelines").symlink_to(outside)
    errors = errors_of(path)
    assert len(errors) == 1
    assert errors[0].startswith("interlock.yaml:6: pipelineDirs[0]: directory './pipelines' is a link to "
                                f"{outside.resolve()}, outside the project directory")


def test_a_folder_written_outside_the_project_is_read_as_configured(
        make_project: ProjectFactory, tmp_path: Path) -> None:
    write(tmp_path / "common" / "orders.yaml", PIPELINE.format(name="orders"))
    config = MINIMAL_CONFIG.replace("pipelineDirs: [./pipelines]", "pipelineDirs: [../common]")
    path = make_project(config, archetypes__simple_yaml=SIMPLE_ARCHETYPE)
    assert list(load_project(path, env={}).pipelines) == ["orders"]


def test_a_link_loop_is_refused(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE)
    pipelines = path.parent / "pipelines"
    (pipelines / "a.yaml").symlink_to("b.yaml")
    (pipelines / "b.yaml").symlink_to("a.yaml")
    assert errors_of(path) == ["pipelines/a.yaml: a link to b.yaml that cannot be followed (a loop?)",
                               "pipelines/b.yaml: a link to a.yaml that cannot be followed (a loop?)"]


def test_entries_left_out_are_listed_as_warnings_and_yml_is_read(make_project: ProjectFactory) -> None:
    path = make_project(
        archetypes__simple_yaml=SIMPLE_ARCHETYPE,
        pipelines__README_md="# notes",
        pipelines__sub__nested_yaml=PIPELINE.format(name="nested"),
        pipelines__Orders_YAML=PIPELINE.format(name="upper"),
        pipelines__orders_yml=PIPELINE.format(name="orders"),
        pipelines__x_gitkeep="",
    )
    os.rename(path.parent / "pipelines" / "x.gitkeep", path.parent / "pipelines" / ".gitkeep")
    (path.parent / "pipelines" / "gone.yaml").symlink_to("missing.yaml")
    project = load_project(path, env={})
    assert list(project.pipelines) == ["orders"]
    assert [str(w) for w in project.warnings] == [
        "pipelines/Orders.YAML: skipped: only lower-case .yaml and .yml files are read (as by the reference); "
        "rename it",
        "pipelines/README.md: skipped: not a .yaml or .yml file",
        "pipelines/gone.yaml: skipped: a link to missing.yaml, which does not exist",
        "pipelines/sub: skipped: a folder (only files directly in pipelines/ are read)",
    ]


def test_a_mapping_with_no_pipeline_key_is_named_not_quoted(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE,
                        pipelines__creds_yaml=f"AWS_SECRET_ACCESS_KEY: x\n{SECRET}: 1\n")
    errors = errors_of(path)
    assert errors == ["pipelines/creds.yaml: none of the 2 top-level keys is a pipeline field; "
                      "is this a pipeline file?"]


@pytest.mark.parametrize("text", [f"x: *{SECRET}\n", f"x: !{SECRET} 1\n", f"x: &{SECRET} 1\ny: &{SECRET} 2\n",
                                  f'x: "\\q{SECRET}"\n'])
def test_yaml_errors_name_the_line_but_do_not_quote_the_file(make_project: ProjectFactory, text: str) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, pipelines__bad_yaml=text)
    errors = errors_of(path)
    assert len(errors) == 1
    assert errors[0].startswith("pipelines/bad.yaml:")
    assert SECRET not in errors[0]
