"""The driver: help texts, and user errors as one line with exit code 2."""
import subprocess
import sys

import pytest
from click.testing import CliRunner

from synnet_recon.cli import COMMANDS, cli, main
from synnet_recon.errors import InputError


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(name):
    assert cli.get_command(None, name) is not None, f"command {name} is listed but does not load"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 3


def test_input_error_is_one_line_exit_2(monkeypatch, capsys):

    @cli.command("boom", hidden=True)
    def boom():
        raise InputError("clip.bvh", "not a BVH file")

    try:
        with pytest.raises(SystemExit) as exc:
            main(["boom"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.strip() == "synrecon: error: clip.bvh: not a BVH file"
    finally:
        cli.commands.pop("boom", None)


def test_unknown_command_exits_nonzero():
    proc = subprocess.run([sys.executable, "-m", "synnet_recon.cli", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
