"""The project index (interlock/config/index.py): never stale, never wrong, and validation in parallel
gives what the serial path gives."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from interlock.config import ConfigInvalid, load_project, open_project
from interlock.config.index import index_path
from interlock.steps.deps import register_project_pipelines
from interlock.store.memory import MemoryStore

ARCHETYPE = ("name: two\nrequiredTraits:\n  - {type: marker-a}\n  - {type: marker-b}\n"
             "readinessRule: {type: all-required-pass}\n")


def pipeline(name: str, command: str = "true", archetype: str = "two") -> str:
    return (f"name: {name}\narchetype: {archetype}\ntraits:\n  marker-a: {{ttl: 3600}}\n"
            f"trigger:\n  type: command\n  command: '{command}'\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for sub in ("archetypes", "pipelines", "calendars"):
        (tmp_path / sub).mkdir()
    (tmp_path / "interlock.yaml").write_text(
        "provider: redis\nredis: {addr: '127.0.0.1:6379'}\narchetypeDirs: [./archetypes]\n"
        "pipelineDirs: [./pipelines]\ncalendarDirs: [./calendars]\n")
    (tmp_path / "archetypes" / "two.yaml").write_text(ARCHETYPE)
    (tmp_path / "calendars" / "holidays.yaml").write_text("name: holidays\ndates: ['2026-12-25']\n")
    for i in range(5):
        (tmp_path / "pipelines" / f"p{i}.yaml").write_text(pipeline(f"p{i}"))
    return tmp_path / "interlock.yaml"


def opened(config: Path, warnings: list[str] | None = None):  # type: ignore[no-untyped-def]
    return open_project(config, env={}, warn=(warnings.append if warnings is not None else None))


def commands(config: Path) -> dict[str, str]:
    project = opened(config)
    return {name: project.pipelines[name].trigger.command.command for name in project.pipelines}  # type: ignore[union-attr]


def age(config: Path) -> None:
    """Make every file and the index look written long ago, so a stat alone decides (not the racy rule)."""
    past = 1_000_000_000 * 1_000_000_000
    for file in config.parent.rglob("*.yaml"):
        os.utime(file, ns=(past, past))
    where = index_path(config)
    data = json.loads(where.read_text())
    data["stats"] = [value for file in data["files"] for value in stat_of(file)]
    data["folders"] = [[folder, *stat_of(folder)[1:]] for folder, *_ in data["folders"]]
    data["takenAt"] = max(os.stat(file).st_ctime_ns for file in [*data["files"], *(f[0] for f in data["folders"])]) \
        + 10 * 1_000_000_000
    where.write_text(json.dumps(data))


def stat_of(file: str | Path) -> list[int]:
    """A file's stat as the index records it."""
    st = os.stat(file)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def test_the_index_is_written_under_the_project_and_ignored_by_git(project: Path) -> None:
    opened(project)
    assert index_path(project).is_file()
    assert index_path(project).parent == project.parent / ".interlock" / "cache"
    assert (project.parent / ".interlock" / ".gitignore").read_text().strip().endswith("*")


def test_an_edit_of_the_same_size_and_mtime_is_seen(project: Path) -> None:
    file = project.parent / "pipelines" / "p1.yaml"
    opened(project)
    before = file.stat()
    file.write_text(pipeline("p1", "echo"))  # 'true' -> 'echo': same size
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime, to the ns
    assert file.stat().st_size == before.st_size and file.stat().st_mtime_ns == before.st_mtime_ns
    assert commands(project)["p1"] == "echo"


def test_an_edit_within_the_racy_window_is_seen_even_with_an_identical_stat(project: Path) -> None:
    """A coarse clock can give a second edit the very stat of the first: such files are compared by content."""
    opened(project)
    where = index_path(project)
    file = project.parent / "pipelines" / "p2.yaml"
    file.write_text(pipeline("p2", "echo"))
    data = json.loads(where.read_text())
    st = file.stat()
    i = data["files"].index(str(file))  # the index claims it saw this very stat, just now
    data["stats"][4 * i:4 * i + 4] = stat_of(file)
    data["digests"][i] = "0" * 32
    data["takenAt"] = st.st_ctime_ns
    where.write_text(json.dumps(data))
    assert commands(project)["p2"] == "echo"


def test_a_file_unchanged_since_long_before_the_index_is_taken_from_it(project: Path) -> None:
    opened(project)
    age(project)
    where = index_path(project)
    data = json.loads(where.read_text())
    data["names"][0] = "from-the-index"  # the index, not the file, answers for an unchanged stat
    where.write_text(json.dumps(data))
    assert "from-the-index" in opened(project).pipelines


def test_added_deleted_and_renamed_pipelines(project: Path) -> None:
    pipelines = project.parent / "pipelines"
    opened(project)
    age(project)
    (pipelines / "new.yaml").write_text(pipeline("new"))
    (pipelines / "p0.yaml").unlink()
    (pipelines / "p3.yaml").write_text(pipeline("p3-renamed"))
    names = sorted(opened(project).pipelines)
    assert names == ["new", "p1", "p2", "p3-renamed", "p4"]
    assert sorted(load_project(project, env={}).pipelines) == names


def test_an_archetype_change_revalidates_every_pipeline(project: Path) -> None:
    opened(project)
    age(project)
    (project.parent / "archetypes" / "two.yaml").write_text(ARCHETYPE.replace("marker-a", "marker-c"))
    with pytest.raises(ConfigInvalid) as opened_error:
        opened(project)
    with pytest.raises(ConfigInvalid) as loaded_error:
        load_project(project, env={})
    assert [str(e) for e in opened_error.value.errors] == [str(e) for e in loaded_error.value.errors]
    assert "trait not defined by archetype 'two'" in str(opened_error.value.errors[0])


def test_a_calendar_change_revalidates_the_pipelines_using_it(project: Path) -> None:
    file = project.parent / "pipelines" / "p1.yaml"
    file.write_text(pipeline("p1") + "exclusions: {calendar: holidays}\n")
    opened(project)
    age(project)
    (project.parent / "calendars" / "holidays.yaml").write_text("name: other\ndates: ['2026-12-25']\n")
    with pytest.raises(ConfigInvalid, match="unknown calendar 'holidays'"):
        opened(project)


def test_a_new_error_or_duplicate_gives_the_full_loads_errors(project: Path) -> None:
    pipelines = project.parent / "pipelines"
    opened(project)
    (pipelines / "p4.yaml").write_text(pipeline("p1"))
    (pipelines / "p2.yaml").write_text(pipeline("p2", archetype="nope"))
    with pytest.raises(ConfigInvalid) as error:
        opened(project)
    text = [str(e) for e in error.value.errors]
    assert any("unknown archetype 'nope'" in t for t in text)
    assert any("pipeline 'p1' is already defined in" in t for t in text)


def test_an_evaluator_that_is_gone_is_an_error_even_with_every_file_unchanged(project: Path) -> None:
    script = project.parent / "check.sh"
    script.write_text("#!/bin/sh\necho '{\"status\":\"PASS\"}'\n")
    script.chmod(0o755)
    (project.parent / "pipelines" / "p1.yaml").write_text(
        pipeline("p1").replace("marker-a: {ttl: 3600}", "marker-a: {evaluator: ./check.sh}"))
    opened(project)
    age(project)
    script.unlink()
    with pytest.raises(ConfigInvalid, match="not found"):
        opened(project)


def test_a_corrupt_index_is_a_warning_and_a_full_load(project: Path) -> None:
    opened(project)
    index_path(project).write_text('{"format": 2, "key": ')
    (project.parent / "pipelines" / "p0.yaml").write_text(pipeline("p0", "echo"))
    warnings: list[str] = []
    project_ = opened(project, warnings)
    assert project_.pipelines["p0"].trigger.command.command == "echo"  # type: ignore[union-attr]
    assert len(warnings) == 1 and "unreadable" in warnings[0]
    assert json.loads(index_path(project).read_text())["format"] == 2  # written again


def test_an_unwritable_cache_is_a_warning_not_a_failure(project: Path) -> None:
    (project.parent / ".interlock").write_text("a file where the cache folder goes")
    warnings: list[str] = []
    assert sorted(opened(project, warnings).pipelines) == [f"p{i}" for i in range(5)]
    assert any("cannot write the project index" in w for w in warnings)


def test_registration_writes_only_the_pipelines_whose_file_changed(project: Path) -> None:
    store = MemoryStore()
    written: list[str] = []
    register = store.register_pipeline_files

    def counting(files):  # type: ignore[no-untyped-def]
        written.extend(config.name for config, _ in files)
        register(files)

    store.register_pipeline_files = counting  # type: ignore[method-assign]
    assert register_project_pipelines(opened(project), store) == 5
    assert sorted(written) == [f"p{i}" for i in range(5)]
    written.clear()
    (project.parent / "pipelines" / "p3.yaml").write_text(pipeline("p3", "echo"))
    assert register_project_pipelines(opened(project), store) == 5
    assert written == ["p3"]
    assert store.get_pipeline("p3").trigger.command.command == "echo"  # type: ignore[union-attr]
    store.register_pipeline(store.get_pipeline("p4"))  # registered by hand (the API): no longer the file's
    written.clear()
    register_project_pipelines(opened(project), store)
    assert written == ["p4"]


@pytest.mark.parametrize("parallel", [True])
def test_parallel_validation_reports_what_the_serial_path_does(project: Path, parallel: bool) -> None:
    pipelines = project.parent / "pipelines"
    for i in range(40):
        body = pipeline(f"q{i}")
        if i % 7 == 0:
            body = body.replace("ttl: 3600", "ttl: '1h'")
        if i % 11 == 0:
            body = body.replace(f"name: q{i}", "name: p1")
        if i % 13 == 0:
            body += "unknownKey: 1\n"
        (pipelines / f"q{i:02d}.yaml").write_text(body)
    (pipelines / "broken.yaml").write_text("name: [unclosed\n")
    errors = {}
    for mode in (False, parallel):
        with pytest.raises(ConfigInvalid) as error:
            load_project(project, env={}, parallel=mode)
        errors[mode] = ([str(e) for e in error.value.errors], [str(w) for w in error.value.warnings])
    assert errors[True] == errors[False]
    assert len(errors[True][0]) > 10


# -- a process that answers while a large project loads (interlock serve, a worker) -------------

def test_a_process_that_answers_gets_the_project_before_its_pipeline_files_load(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from interlock.config import index, loader

    monkeypatch.setattr(index, "DEFER_MIN_FILES", 5)
    gate = threading.Event()
    run = loader._Loading.run

    def held(self: loader._Loading) -> loader.Project:
        assert gate.wait(30), "the test never let the load go"
        return run(self)

    monkeypatch.setattr(loader._Loading, "run", held)
    failures: list[ConfigInvalid] = []
    project_ = open_project(project, env={}, failed=failures.append)  # returns while the load is held
    pending = project_.pipelines
    assert isinstance(pending, index.PendingPipelines) and not pending.loaded
    assert project_.archetypes and project_.calendars  # the rest of the project is there already
    gate.set()
    assert sorted(pending) == [f"p{i}" for i in range(5)]  # reading waits for the load
    assert pending.loaded and not failures
    assert set(project_.digests) == {f"p{i}" for i in range(5)}  # registration writes by digest
    assert index_path(project).is_file()  # the load wrote the index: the next start reads through it
    assert isinstance(opened(project).pipelines, index.LazyPipelines)


def test_errors_in_pipeline_files_found_after_answering_are_reported_once_and_raised_on_read(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.config import index

    monkeypatch.setattr(index, "DEFER_MIN_FILES", 5)
    (project.parent / "pipelines" / "p3.yaml").write_text("name: p3\narchetype: nope\n")
    failures: list[ConfigInvalid] = []
    pending = open_project(project, env={}, failed=failures.append).pipelines
    with pytest.raises(ConfigInvalid) as raised:
        len(pending)
    assert len(failures) == 1 and failures[0] is raised.value
    assert any(e.file.endswith("p3.yaml") and "nope" in e.message for e in failures[0].errors), failures[0].errors
    assert not index_path(project).exists()  # nothing is written for a project that did not validate


def test_errors_outside_the_pipeline_files_are_raised_at_once_even_for_a_process_that_answers(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.config import index

    monkeypatch.setattr(index, "DEFER_MIN_FILES", 5)
    (project.parent / "archetypes" / "two.yaml").write_text("name: two\nrequiredTraits: 7\n")
    with pytest.raises(ConfigInvalid):
        open_project(project, env={}, failed=lambda exc: pytest.fail("reported late"))


def test_a_small_project_is_loaded_before_returning_even_for_a_process_that_answers(project: Path) -> None:
    (project.parent / "pipelines" / "p3.yaml").write_text("name: p3\narchetype: nope\n")
    with pytest.raises(ConfigInvalid):  # under DEFER_MIN_FILES: the worker exits 2 before Celery starts
        open_project(project, env={}, failed=lambda exc: pytest.fail("reported late"))


def test_a_process_forked_while_the_project_loads_loads_it_itself(project: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Celery's pool processes are forked while the worker's loading thread may still run: a fork has
    # no such thread, so the child must not wait for it but read the files itself.
    import threading

    from interlock.config import index, loader

    monkeypatch.setattr(index, "DEFER_MIN_FILES", 5)
    release = threading.Event()
    run = loader._Loading.run

    def held_on_the_loading_thread(self: loader._Loading) -> loader.Project:
        if threading.current_thread().name == "interlock-load-project":
            assert release.wait(30)
        return run(self)

    monkeypatch.setattr(loader._Loading, "run", held_on_the_loading_thread)
    pending = open_project(project, env={}, failed=lambda exc: None).pipelines
    assert not pending.loaded
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, ",".join(sorted(pending)).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        got = b""
        while chunk := os.read(read, 4096):
            got += chunk
        assert os.waitpid(child, 0)[1] == 0
    finally:
        os.close(read)
        release.set()
    assert got.decode() == ",".join(f"p{i}" for i in range(5))
    assert len(pending) == 5  # and the parent's own load ends as well


def test_files_touched_or_copied_with_the_same_bytes_are_not_validated_again(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A checkout, a copy into an image, `touch`: new stats, same bytes. The verdict depends only on the
    # bytes (and on the project key), so the files are hashed, not parsed, and the new stats recorded.
    from interlock.config import loader

    opened(project)
    age(project)
    later = 2_000_000_000 * 1_000_000_000
    for file in (project.parent / "pipelines").glob("*.yaml"):
        os.utime(file, ns=(later, later))
    checked: list[Path] = []
    check = loader._Loading.check_pipeline_file

    def counted(self: loader._Loading, project_: loader.Project, file: Path) -> loader.FileCheck:
        checked.append(file)
        return check(self, project_, file)

    monkeypatch.setattr(loader._Loading, "check_pipeline_file", counted)
    assert commands(project) == {f"p{i}": "true" for i in range(5)}
    assert [f.name for f in checked] == ["p0.yaml", "p1.yaml", "p2.yaml", "p3.yaml", "p4.yaml"]  # read when asked
    recorded = json.loads(index_path(project).read_text())["stats"][1::4]  # the mtimes
    assert set(recorded) == {later}  # the new stats are written down: next time a stat suffices
    (project.parent / "pipelines" / "p2.yaml").write_text(pipeline("p2", "echo"))  # and an edit is still seen
    assert commands(project)["p2"] == "echo"


@pytest.mark.parametrize("damage", [
    lambda d: d["stats"].pop(),  # the columns no longer line up
    lambda d: d["names"].append("extra"),
    lambda d: d["digests"].__setitem__(0, 7),  # a digest that is not text
    lambda d: d["names"].__setitem__(1, None),
    lambda d: d.__setitem__("executables", [[99, ["check"]]]),  # an entry that does not exist
    lambda d: d.__setitem__("executables", [[0, "check"]]),
    lambda d: d.__setitem__("volatile", [-1]),
    lambda d: d.__setitem__("files", {"a": 1}),
    lambda d: d.pop("digests"),
])
def test_an_index_whose_columns_are_damaged_is_a_warning_and_a_full_load(project: Path, damage: Any) -> None:
    opened(project)
    age(project)
    where = index_path(project)
    data = json.loads(where.read_text())
    damage(data)
    where.write_text(json.dumps(data))
    warnings: list[str] = []
    assert sorted(opened(project, warnings).pipelines) == [f"p{i}" for i in range(5)]
    assert len(warnings) == 1 and "unreadable" in warnings[0], warnings
    assert len(json.loads(where.read_text())["stats"]) == 20  # written again, whole


def test_an_index_of_another_format_is_replaced_without_a_warning(project: Path) -> None:
    opened(project)
    where = index_path(project)
    where.write_text(json.dumps({"format": 1, "key": "k", "takenAt": 0, "files": []}))  # an earlier version's
    warnings: list[str] = []
    assert sorted(opened(project, warnings).pipelines) == [f"p{i}" for i in range(5)]
    assert warnings == []
    assert json.loads(where.read_text())["format"] == 2


def test_an_unchanged_folder_is_not_listed_again_and_a_new_file_in_it_is_seen(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.config import loader

    opened(project)
    age(project)
    listings: list[int] = []
    listing = loader._Loading.pipeline_paths

    def counted(self: loader._Loading, project_: loader.Project) -> list[str]:
        listings.append(1)
        return listing(self, project_)

    monkeypatch.setattr(loader._Loading, "pipeline_paths", counted)
    assert sorted(opened(project).pipelines) == [f"p{i}" for i in range(5)]
    assert listings == []  # the folder's stat matched: the index's list of files was used
    (project.parent / "pipelines" / "p9.yaml").write_text(pipeline("p9"))  # changes the folder's mtime
    assert "p9" in opened(project).pipelines
    assert listings == [1]
    (project.parent / "pipelines" / "p9.yaml").rename(project.parent / "pipelines" / "p8.yaml")
    assert sorted(opened(project).pipelines) == ["p0", "p1", "p2", "p3", "p4", "p9"]  # renamed: listed again
    assert listings == [1, 1]
