"""The command line's names: one word per concept, the names before 5.0 kept as aliases."""

from __future__ import annotations

import pytest

from aiopyrq import cli


@pytest.mark.parametrize("command", ["recover-stale", "requeue-stale"])
def test_recover_stale_and_its_alias(command):
    """recover-stale, and requeue-stale (its name before 5.0), put stale items back."""
    args = cli.build_parser().parse_args([command, "q", "--older-than", "5", "--dry-run"])
    assert args.run is cli._stale
    assert args.drop is False
    assert (args.name, args.older_than, args.dry_run) == ("q", 5, True)


def test_drop_stale_deletes():
    """drop-stale is the stale command that deletes."""
    args = cli.build_parser().parse_args(["drop-stale", "q", "--older-than", "5"])
    assert args.run is cli._stale
    assert args.drop is True


def test_help_lists_the_alias(capsys):
    """The help names recover-stale and its alias requeue-stale."""
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "recover-stale (requeue-stale)" in out
