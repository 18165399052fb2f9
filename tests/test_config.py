import pytest

from conftest import refused
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
    error = refused(tmp_path / "uchi.toml", '[train]\nepoch = 3\nquantization = "int3"\nrank = 64\n[serving]\n'
                    'port = "x"\n[nope]\na = 1\n', {"UCHI_EVAL_MARGIN": "2"})
    text = str(error)
    assert "did you mean train.epochs" in text
    assert "choose one of none, nf4" in text
    assert "raise serving.max_lora_rank" in text
    assert "serving.port = 'x': expected int" in text
    assert "unknown section [nope]" in text
    assert "eval.margin" in text
    assert len(error.problems) == 6


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
    with pytest.raises(ConfigError, match=r'a TOML array such as \["U1"\]'):
        config_module.load(path, env={})
    path.write_text('[slack]\nadmins = [1]\n')
    with pytest.raises(ConfigError, match="expected a list of strings"):
        config_module.load(path, env={})


def test_types_are_strict_and_misspelled_sections_named(tmp_path):
    path = tmp_path / "strict.toml"
    text = str(refused(path, '[data]\nbackup_keep = true\nduplicate_threshold = nan\nheldout_percent = "10"\n'
                       '[train]\nslurm_poll_s = inf\n[serving]\nenforce_eager = 1\n',
                       {"UCHI_DAT_BACKUP_KEEP": "3", "UCHI_STATE_DIR": " "}))
    assert "data.backup_keep = True: expected int" in text
    assert "data.duplicate_threshold = nan: expected a finite float" in text
    assert "data.heldout_percent = '10': expected int" in text
    assert "train.slurm_poll_s = inf: expected a finite float" in text
    assert "serving.enforce_eager = 1: expected bool" in text
    assert "$UCHI_DAT_BACKUP_KEEP: unknown section 'dat'; did you mean UCHI_DATA_BACKUP_KEEP?" in text
    assert "$UCHI_STATE_DIR: state.dir is empty" in text
    cfg = config_module.load(env={"UCHI_SERVING_ENFORCE_EAGER": "true", "UCHI_DATA_BACKUP_KEEP": "3",
                                  "UCHI_VLLM_API_KEY": "secret", "UCHI_TEST_DIE_AT": "x"})
    assert cfg.serving.enforce_eager is True and cfg.data.backup_keep == 3  # the environment is text


def test_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "uchi.cli", "config", "show"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -1` after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err, err


def test_shipped_uchi_toml_is_the_documented_template_and_every_key_is_documented():
    # Keys are documented once, in uchi/config.py; `uchi config template > uchi.toml` writes the shipped file.
    undocumented = [key for key, lines in config_module._field_comments().items() if not lines]
    assert not undocumented, f"comment these keys in uchi/config.py: {undocumented}"
    assert REPO_TOML.read_text() == config_module.Config().as_toml(documented=True), \
        "uchi.toml is stale: regenerate it with `uchi config template > uchi.toml`"
