import pytest

from uchi import config as config_module
from uchi.errors import ConfigError

REPO_TOML = config_module.Path(__file__).resolve().parents[1] / "uchi.toml"


def test_defaults_load_and_resolve_state_dir(tmp_path):
    cfg = config_module.load(env={})
    assert cfg.state_dir == (tmp_path / ".uchi").resolve()
    assert cfg.train.quantization == "none" and cfg.serving.url.startswith("http://127.0.0.1:")


def test_shipped_config_loads():
    cfg = config_module.load(REPO_TOML, env={})
    assert cfg.source == REPO_TOML and cfg.model.base == config_module.EMBEDDED_MODEL


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "uchi.toml"
    path.write_text('[train]\nepochs = 3\n[serving]\nport = 9001\n')
    cfg = config_module.load(path, env={"UCHI_TRAIN_EPOCHS": "7", "UCHI_SERVING_HOST": "0.0.0.0"})
    assert (cfg.train.epochs, cfg.serving.port, cfg.serving.host) == (7, 9001, "0.0.0.0")


def test_every_problem_reported_at_once_with_its_fix(tmp_path):
    path = tmp_path / "uchi.toml"
    path.write_text('[train]\nepoch = 3\nquantization = "int3"\nrank = 64\n[serving]\nport = "x"\n[nope]\na = 1\n')
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, env={"UCHI_EVAL_MARGIN": "2"})
    text = str(caught.value)
    assert "did you mean train.epochs" in text
    assert "choose one of none, nf4" in text
    assert "raise serving.max_lora_rank" in text
    assert "serving.port = 'x': expected int" in text
    assert "unknown section [nope]" in text
    assert "eval.margin" in text
    assert len(caught.value.problems) == 6


def test_broken_toml_and_missing_file_are_clear(tmp_path):
    path = tmp_path / "uchi.toml"
    path.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config_module.load(path, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        config_module.load(tmp_path / "missing.toml", env={})


def test_resolved_config_round_trips(tmp_path):
    cfg = config_module.load(env={"UCHI_TRAIN_RANK": "8"})
    path = tmp_path / "again.toml"
    path.write_text(cfg.as_toml())
    again = config_module.load(path, env={})
    assert again.train == cfg.train and again.serving == cfg.serving


def test_lists_from_file_and_environment(tmp_path):
    path = tmp_path / "uchi.toml"
    path.write_text('[slack]\nadmins = ["U1", "U2"]\n')
    cfg = config_module.load(path, env={"UCHI_SLACK_REVIEWERS": "U3, U4"})
    assert cfg.slack.admins == ["U1", "U2"] and cfg.slack.reviewers == ["U3", "U4"]
    path.write_text('[slack]\nadmins = "U1"\n')
    cfg = config_module.load(path, env={})
    assert cfg.slack.admins == ["U1"]
    path.write_text('[slack]\nadmins = [1]\n')
    with pytest.raises(ConfigError, match="expected a list of strings"):
        config_module.load(path, env={})


def test_shipped_uchi_toml_is_the_documented_template_and_every_key_is_documented():
    # Keys are documented once, in uchi/config.py; `uchi config template > uchi.toml` writes the shipped file.
    undocumented = [key for key, lines in config_module._field_comments().items() if not lines]
    assert not undocumented, f"comment these keys in uchi/config.py: {undocumented}"
    assert REPO_TOML.read_text() == config_module.Config().as_toml(documented=True), \
        "uchi.toml is stale: regenerate it with `uchi config template > uchi.toml`"
