"""`make build-lambda`: one zip per handler with the code, the bundled project and its handler."""

from __future__ import annotations

import importlib
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from lambdas import build


def test_build_writes_one_zip_per_handler_with_the_code_and_the_bundled_project(new_project: Path,
                                                                              tmp_path: Path) -> None:
    built = build.build(new_project / "interlock.yaml", tmp_path / "dist", with_deps=False)

    assert sorted(p.name for p in built) == sorted(f"{m}.zip" for m in build.HANDLERS)
    for path in built:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            assert f"lambdas/{path.stem}.py" in names
            assert {"lambdas/runtime.py", "interlock/steps/runs.py", "interlock/store/dynamodb.py",
                    "config/interlock.yaml", "config/pipelines/example.yaml"} <= names
            assert "lambdas/build.py" not in names
            assert not any("__pycache__" in n for n in names)
            mode = archive.getinfo("config/evaluators/check-source-freshness").external_attr >> 16
            assert mode & stat.S_IXUSR  # evaluators stay executable


def test_build_is_reproducible(new_project: Path, tmp_path: Path) -> None:
    first = build.build(new_project / "interlock.yaml", tmp_path / "a", with_deps=False)[0].read_bytes()
    second = build.build(new_project / "interlock.yaml", tmp_path / "b", with_deps=False)[0].read_bytes()
    assert first == second


def test_every_handler_module_is_importable_and_declares_its_environment() -> None:
    for module in build.HANDLERS:
        loaded = importlib.import_module(f"lambdas.{module}")
        assert callable(loaded.handler)
        assert {"INTERLOCK_CONFIG", "TABLE_NAME"} <= set(loaded.ENV)
        assert "AWS_REGION" not in loaded.ENV


def test_handlers_import_none_of_the_server_only_packages_left_out_of_the_zip() -> None:
    modules = ", ".join(f"lambdas.{m}" for m in build.HANDLERS)
    banned = ["redis", "celery", "kombu", "flower", "sqlalchemy", "alembic", "psycopg2", "fastapi", "uvicorn"]
    code = (f"import sys, {modules}, interlock.store.dynamodb\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({banned!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_requirements_leave_out_server_only_packages() -> None:
    names = {build._dist_name(r) for r in build.requirements()}
    assert "pydantic" in names and "httpx" in names
    assert not names & build.SERVER_ONLY
