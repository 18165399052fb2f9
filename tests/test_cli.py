import pytest

from uchi.cli import build_parser, main


def _commands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield prefix + (name,), sub
                yield from _commands(sub, prefix + (name,))


def test_every_command_has_help(capsys):
    commands = list(_commands(build_parser()))
    assert len(commands) >= 15
    for path, sub in commands:
        assert sub.description, f"uchi {' '.join(path)} has no description"
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        assert done.value.code == 0
        assert "usage: uchi " + " ".join(path) in capsys.readouterr().out


def test_user_errors_become_one_line_messages(capsys, tmp_path):
    assert main(["data", "import", str(tmp_path / "nope.csv")]) == 2
    assert "uchi: error:" in capsys.readouterr().err


def test_bad_config_is_reported_before_anything_runs(capsys, monkeypatch):
    monkeypatch.setenv("UCHI_TRAIN_EPOCHS", "many")
    assert main(["data", "stats"]) == 2
    assert "train.epochs = 'many': expected int" in capsys.readouterr().err


def test_ask_without_a_server_says_how_to_start_one(capsys, monkeypatch):
    monkeypatch.setenv("UCHI_SERVING_PORT", "9")  # discard port: nothing listens
    assert main(["ask", "hello?"]) == 2
    assert "not reachable" in capsys.readouterr().err
