"""The witness's config, key file, status table and start-up checks."""

from __future__ import annotations

import inspect
import os
import stat
from pathlib import Path

import pytest

from auditlog_tlog.tree import errors
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import StorageError
from auditlog_tlog.tree.note import parse_signature_lines
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import load_config, parse_config
from auditlog_tlog.witness.keys import load_or_create_key
from auditlog_tlog.witness.status import HTTP_STATUS, http_status_of
from tests.witness import s3server
from tests.witness.helpers import TestLog, add_checkpoint


def _config(log: TestLog, archive: str = "", extra: str = "") -> str:
    return (f'[witness]\nname = "witness.example/w1"\nlisten = "127.0.0.1:0"\n{extra}\n'
            f'{archive}\n[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n')


def test_every_exception_class_has_an_http_status() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.AuditLogError)]
    assert set(classes) == set(HTTP_STATUS)
    assert http_status_of(errors.InconsistencyError("x", kind=errors.Inconsistency.FORK)) == 422
    assert http_status_of(errors.VerificationError("x")) == 403


def test_config_defaults_and_paths(tmp_path: Path) -> None:
    log = TestLog()
    config = parse_config(_config(log), tmp_path)
    assert config.key_file == tmp_path / "witness.key"
    assert config.state_dir == tmp_path / "state"
    assert config.archive.type == "local" and config.archive.dir == tmp_path / "archive"
    assert config.logs[0].vkeys == (log.signer.vkey(),) and config.logs[0].grpc == ""
    s3 = parse_config(_config(log, '[archive]\ntype = "s3"\nbucket = "b"\nretention_days = 7'),
                      tmp_path)
    assert (s3.archive.bucket, s3.archive.retention_days) == ("b", 7)


@pytest.mark.parametrize("text, problem", [
    ("[witness]\nname = 'w'\n", "no \\[\\[log\\]\\]"),
    ("[witness]\nname = 'has space'\n", "space"),
    ("[witness]\nname = 'w'\nbogus = 1\n[[log]]\norigin='o'\nvkey='{vkey}'\n", "unknown keys"),
    ("[witness]\nname = 'w'\n[[log]]\norigin='o'\nvkey='nope'\n", "vkey"),
    ("[witness]\nname = 'w'\n[[log]]\norigin='o'\nvkey='{wkey}'\n", "want an Ed25519"),
    ("[witness]\nname = 'w'\n[archive]\ntype='tape'\n[[log]]\norigin='o'\nvkey='{vkey}'\n", "tape"),
    ("[witness]\nname = 'w'\n[archive]\ntype='s3'\n[[log]]\norigin='o'\nvkey='{vkey}'\n", "bucket"),
    ("[witness]\nname = 'w'\nrefresh_s = 'x'\n[[log]]\norigin='o'\nvkey='{vkey}'\n", "want float"),
    ("[witness]\nname = 'w'\nlisten = ''\n[[log]]\norigin='o'\nvkey='{vkey}'\n", "do nothing"),
    ("not toml [", "TOML"),
])
def test_config_errors_say_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    vkey = TestLog().signer.vkey()
    wkey = CosignatureSigner.generate("w").vkey()
    with pytest.raises(ValueError, match=problem):
        parse_config(text.replace("{vkey}", vkey).replace("{wkey}", wkey), tmp_path)


def test_key_file_is_created_0600_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "w.key"
    signer, created = load_or_create_key(path, "witness.example/w1")
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created = load_or_create_key(path, "witness.example/w1")
    assert not created and again.vkey() == signer.vkey()
    with pytest.raises(ValueError, match="holds a key for"):
        load_or_create_key(path, "witness.example/other")
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_key(path, "witness.example/w1")


def test_app_serves_cosigns_and_archives_locally(tmp_path: Path) -> None:
    log = TestLog()
    path = tmp_path / "witness.toml"
    path.write_text(_config(log))
    app = WitnessApp(load_config(path))
    app.start()
    try:
        assert app.key_created and app.http is not None
        reply = add_checkpoint(app.http.port, log.body(0, 4))
        assert reply.status == 200
        assert parse_signature_lines(reply.body)[0].name == "witness.example/w1"
    finally:
        app.stop()
    archived = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert len(archived) == 1 and archived[0].relative_to(tmp_path / "archive").parts[0] == "cosigned"


def test_app_refuses_to_start_on_an_unlocked_bucket(
    tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3 = s3server.client(moto_url)
    s3server.make_bucket(s3, "unlocked-app", lock=False, versioning=True)
    s3.close()
    archive = f'[archive]\ntype = "s3"\nbucket = "unlocked-app"\nendpoint_url = "{moto_url}"'
    path = tmp_path / "witness.toml"
    path.write_text(_config(TestLog(), archive))
    app = WitnessApp(load_config(path))
    with pytest.raises(StorageError, match="Object Lock is not enabled"):
        app.start()
    assert app.http is None
