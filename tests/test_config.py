import pytest

from release import config
from release.errors import HarnessError


def test_defaults(tmp_path):
    settings = config.resolve(root=tmp_path, environ={})
    assert (settings.stage, settings.dry_run, settings.extension_type) == ("dev", False, None)


def test_flags_override_environment_which_overrides_dotenv(tmp_path):
    (tmp_path / ".env").write_text("STAGE=prod\nAWS_PROFILE_DEV='dev-profile'\n# comment\nexport FORCE=1\n")
    from_file = config.resolve(root=tmp_path, environ={})
    assert (from_file.stage, from_file.force, from_file.get("AWS_PROFILE_DEV")) == ("prod", True, "dev-profile")
    from_env = config.resolve(root=tmp_path, environ={"STAGE": "stage"})
    assert from_env.stage == "stage"
    from_flag = config.resolve({"STAGE": "dev", "DRY_RUN": True}, root=tmp_path, environ={"STAGE": "stage"})
    assert (from_flag.stage, from_flag.dry_run) == ("dev", True)


def test_unknown_stage_lists_the_valid_ones(tmp_path):
    with pytest.raises(HarnessError) as caught:
        config.resolve(root=tmp_path, environ={"STAGE": "qa"})
    assert "dev, stage, prod" in caught.value.render()


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_flags_must_be_yes_or_no(tmp_path, value):
    with pytest.raises(HarnessError, match="DRY_RUN"):
        config.resolve(root=tmp_path, environ={"DRY_RUN": value})


def test_broken_dotenv_line_names_the_line(tmp_path):
    (tmp_path / ".env").write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(HarnessError) as caught:
        config.resolve(root=tmp_path, environ={})
    assert "line 2" in caught.value.render()


def test_seconds(tmp_path):
    assert config.parse_seconds("LOCK_TIMEOUT", "2.5") == 2.5
    assert config.parse_seconds("LOCK_TIMEOUT", None, default=0) == 0
    with pytest.raises(HarnessError, match="LOCK_TIMEOUT"):
        config.parse_seconds("LOCK_TIMEOUT", "-1")


def test_empty_environment_values_do_not_hide_dotenv(tmp_path):
    (tmp_path / ".env").write_text("STAGE=stage\nLOCK_TIMEOUT=30\n")
    settings = config.resolve(root=tmp_path, environ={"STAGE": "", "LOCK_TIMEOUT": ""})
    assert (settings.stage, settings.get("LOCK_TIMEOUT")) == ("stage", "30")
