"""Confinement settings and the checks made before any session runs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from executor.confinement import ConfinementSettings, Confiner, Isolation
from executor.confinement.box import ConfinementUnavailableError, _unusable_root
from executor.confinement.settings import GIB, MIB, SettingError, parse_size, parse_uid_range


def test_defaults() -> None:
    settings = ConfinementSettings.from_env({})
    assert settings.isolation is Isolation.AUTO
    assert settings.uid_range == (61000, 61999)
    assert settings.session_root is None
    assert settings.limits.memory_bytes == 4 * GIB


def test_values_are_parsed() -> None:
    settings = ConfinementSettings.from_env(
        {
            "CCPLANE_SESSION_ISOLATION": "Required",
            "CCPLANE_SESSION_UID_RANGE": "70000 - 70009",
            "CCPLANE_SESSION_ROOT": "/srv/sessions",
            "CCPLANE_SESSION_MEMORY": "512MiB",
            "CCPLANE_SESSION_MAX_PROCESSES": "64",
        }
    )
    assert settings.isolation is Isolation.REQUIRED
    assert settings.uid_range == (70000, 70009)
    assert settings.session_root == Path("/srv/sessions")
    assert settings.limits.memory_bytes == 512 * MIB
    assert settings.limits.max_processes == 64
    assert parse_size("1048576") == MIB and parse_size("2g") == 2 * GIB


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CCPLANE_SESSION_ISOLATION", "maybe", "auto, required, off"),
        ("CCPLANE_SESSION_UID_RANGE", "0-100", "1000 <= FIRST"),
        ("CCPLANE_SESSION_UID_RANGE", "62000-61000", "FIRST <= LAST"),
        ("CCPLANE_SESSION_UID_RANGE", "lots", "FIRST-LAST"),
        ("CCPLANE_SESSION_MEMORY", "4 parsecs", "size"),
        ("CCPLANE_SESSION_MAX_PROCESSES", "-3", "positive"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingError) as err:
        ConfinementSettings.from_env({name: value})
    assert name in str(err.value) and says in str(err.value)
    with pytest.raises(SettingError):
        parse_uid_range("1-2")


def test_a_session_root_must_be_reachable_and_not_private() -> None:
    assert "inside /tmp" in _unusable_root(Path("/tmp/sessions"))
    assert "inside /run" in _unusable_root(Path("/run/ccplane/sessions"))
    closed = Path(tempfile.mkdtemp(prefix="ccplane-closed-", dir="/var/lib"))  # mode 0700
    try:
        assert "cannot be traversed" in _unusable_root(closed / "sessions")
        os.chmod(closed, 0o711)
        assert _unusable_root(closed / "sessions") == ""
    finally:
        closed.rmdir()


def test_off_and_required(tmp_path: Path) -> None:
    off = Confiner(ConfinementSettings(isolation=Isolation.OFF), data_dir=tmp_path, executor_id="exe_1")
    off.prepare()
    assert not off.enabled and "CCPLANE_SESSION_ISOLATION=off" in off.reason

    bad_root = ConfinementSettings(isolation=Isolation.REQUIRED, session_root=Path("/tmp/nope"))
    required = Confiner(bad_root, data_dir=tmp_path, executor_id="exe_2")
    with pytest.raises(ConfinementUnavailableError) as err:
        required.prepare()
    message = str(err.value)
    assert "CCPLANE_SESSION_ROOT" in message or "cannot be confined" in message


def test_abandoned_session_directories_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    """(Runs as root, as the test suites do: session users need it.)"""
    root = Path(tempfile.mkdtemp(prefix="ccplane-sweep-", dir="/var/lib"))
    os.chmod(root, 0o711)
    settings = ConfinementSettings(
        isolation=Isolation.REQUIRED,
        session_root=root,
        uid_range=(64990, 64993),
        uid_lock_dir=tmp_path / "uids",
    )
    try:
        # A killed executor's session (its uid's lease died with it) and a
        # live session of another executor (its uid leased).
        abandoned = root / "exe_killed" / "run_abandoned"
        live = root / "exe_alive" / "run_live"
        for directory, uid in ((abandoned, 64990), (live, 64991)):
            (directory / "workspace").mkdir(parents=True)
            (directory / "workspace" / "file.txt").write_text("work")
            os.chown(directory, uid, uid)
        holder = Confiner(settings, data_dir=tmp_path / "a", executor_id="exe_alive")
        holder._uids.prepare()
        held = holder._uids.try_lease(64991)
        assert held is not None
        try:
            confiner = Confiner(settings, data_dir=tmp_path / "b", executor_id="exe_new")
            confiner.prepare()
            assert confiner.enabled
            assert not abandoned.exists(), "nobody holds its uid: abandoned, removed"
            assert (live / "workspace" / "file.txt").read_text() == "work", "a live session's is kept"
            # The sweep gave the uid back: a new session can have it.
            again = confiner._uids.try_lease(64990)
            assert again is not None
            again.release()
        finally:
            held.release()
    finally:
        shutil.rmtree(root, ignore_errors=True)
