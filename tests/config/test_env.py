from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

REPO = Path(__file__).resolve().parents[2]


def test_it_reads_booleans(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", default=True) is False
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", default=True) is True


def test_it_names_the_variable_in_errors(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", default=False)
    monkeypatch.setenv("COUNT", "many")
    with pytest.raises(ImproperlyConfigured, match="COUNT='many' is not a whole number"):
        env_int("COUNT", default=1)
    monkeypatch.setenv("COUNT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        env_int("COUNT", default=1, minimum=1)


def test_it_reads_lists(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    assert env_list("HOSTS", default=[]) == ["a.example", "b.example"]


def test_it_prefers_a_secret_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("TOKEN", "from-env")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_str("TOKEN", default="") == "from-a-file"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="TOKEN_FILE"):
        env_str("TOKEN", default="")


def _load_production_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_refuses_to_start_production_with_the_default_secret():
    result = _load_production_settings()
    assert result.returncode != 0
    assert "SECRET_KEY is unset, the development default" in result.stderr


def test_it_refuses_a_short_production_secret():
    assert _load_production_settings(SECRET_KEY="short").returncode != 0


def test_it_starts_production_with_a_real_secret():
    result = _load_production_settings(SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_it_reports_a_bad_database_url():
    result = _load_production_settings(SECRET_KEY="x" * 50, DATABASE_URL="nonsense://what")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_it_checks_throttle_rates_at_start_up(monkeypatch):
    from config.env import env_rate

    monkeypatch.setenv("RATE", "10/min")
    assert env_rate("RATE", default="1/s") == "10/min"
    monkeypatch.setenv("RATE", "ten/min")
    with pytest.raises(ImproperlyConfigured, match="RATE='ten/min' is not a rate"):
        env_rate("RATE", default="1/s")
