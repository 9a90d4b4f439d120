"""The one way the config is written: comments and order kept, atomic, through a symlink, a
new file private."""

from __future__ import annotations

from pathlib import Path

import pytest

from cuadra_top.config_writer import update_config


def add_key(document) -> None:
    document["theme"] = "mine"


def test_a_new_file_is_created_private_in_a_private_directory(tmp_path):
    path = tmp_path / "new" / "dir" / "config.toml"
    assert update_config(path, add_key)
    assert path.read_text() == 'theme = "mine"\n'
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_an_existing_file_keeps_its_comments_order_and_mode(tmp_path):
    path = tmp_path / "config.toml"
    text = "# my settings\nrefresh_interval = 60  # slow\n\n[[org]]\nname = \"a\"  # first\ntoken_env = \"A\"\n"
    path.write_text(text)
    path.chmod(0o640)
    update_config(path, add_key)
    new = path.read_text()
    assert new.startswith("# my settings\nrefresh_interval = 60  # slow\n")
    assert 'name = "a"  # first' in new and new.index("theme") < new.index("[[org]]")
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temporary file left


def test_a_symlinked_config_is_written_through_its_link(tmp_path):
    real = tmp_path / "dotfiles" / "cuadra.toml"
    real.parent.mkdir()
    real.write_text("# kept\n")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    update_config(link, add_key)
    assert link.is_symlink() and "# kept" in real.read_text() and "theme" in real.read_text()


def test_a_refused_change_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("# untouched\n")

    def refuse(text: str) -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        update_config(path, add_key, check=refuse)
    assert path.read_text() == "# untouched\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_no_change_writes_nothing(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("x = 1\n")
    before = path.stat().st_mtime_ns
    assert update_config(path, lambda document: False) is False
    assert path.stat().st_mtime_ns == before and Path(path).read_text() == "x = 1\n"
