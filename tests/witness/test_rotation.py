"""Witness key rotation: every active key cosigns (one line each, each verifying on its own, so
logs and clients that know either key keep verifying); a retired key signs nothing; every key
file must be mode 0600."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from auditlog_tlog.common.keys import KeyConfig
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.note import add_signatures, open_note, parse_note, parse_signature_lines
from auditlog_tlog.tree.witness_protocol import parse_add_checkpoint
from auditlog_tlog.witness.app import WitnessApp
from auditlog_tlog.witness.config import parse_config
from auditlog_tlog.witness.core import origin_hash
from auditlog_tlog.witness.keys import load_keys
from tests.clock import FakeClock
from tests.witness.helpers import TestLog, add_checkpoint, make_witness, request

NAME = "witness.example/w1"


def _write_key(path: Path, signer: CosignatureSigner, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.skey() + "\n")
    path.chmod(mode)


def _app(directory: Path, log: TestLog, keys: str) -> WitnessApp:
    text = (f'[witness]\nname = "{NAME}"\nlisten = "127.0.0.1:0"\n{keys}\n'
            f'[[log]]\norigin = "{log.origin}"\nvkey = "{log.signer.vkey()}"\n')
    app = WitnessApp(parse_config(text, directory))
    app.start()
    return app


def test_rotation_overlap_then_retirement(tmp_path: Path) -> None:
    log = TestLog()
    old, new = CosignatureSigner.generate(NAME), CosignatureSigner.generate(NAME)
    _write_key(tmp_path / "old.key", old)
    _write_key(tmp_path / "new.key", new)
    overlap = ('[[witness.key]]\nfile = "old.key"\nsince = "2026-01-01"\n'
               '[[witness.key]]\nfile = "new.key"\nsince = "2026-06-01"\n')
    app = _app(tmp_path, log, overlap)
    try:
        assert app.http is not None
        reply = add_checkpoint(app.http.port, log.body(0, 5))
        assert reply.status == 200
        lines = parse_signature_lines(reply.body)
        assert [(s.name, s.key_id) for s in lines] == [(NAME, old.key_id), (NAME, new.key_id)]
        served = request(app.http.port, "GET", f"/{origin_hash(log.origin)}/checkpoint").body
    finally:
        app.stop()
    # A client that knows only one of the keys verifies the cosigned checkpoint all the same.
    for signer in (old, new):
        opened = open_note(served, [signer.verifier()])
        assert [v.key_id for v in opened.verified] == [signer.key_id]

    retired = (f'[[witness.key]]\nvkey = "{old.vkey()}"\nstate = "retired"\nuntil = "2026-07-01"\n'
               '[[witness.key]]\nfile = "new.key"\n')
    app = _app(tmp_path, log, retired)
    try:
        assert app.keys is not None
        assert [(vkey, key.state) for vkey, key in app.keys.listed] == [
            (new.vkey(), "active"), (old.vkey(), "retired")]
        assert app.http is not None
        reply = add_checkpoint(app.http.port, log.body(5, 9))
        assert [s.key_id for s in parse_signature_lines(reply.body)] == [new.key_id]
        served = request(app.http.port, "GET", f"/{origin_hash(log.origin)}/checkpoint").body
    finally:
        app.stop()
    open_note(served, [new.verifier()])
    with pytest.raises(VerificationError):
        open_note(served, [old.verifier()])  # the retired key signed nothing new


def test_a_key_added_within_refresh_s_signs_the_same_checkpoint_afresh(tmp_path: Path) -> None:
    log = TestLog()
    old, new = CosignatureSigner.generate(NAME), CosignatureSigner.generate(NAME)
    clock = FakeClock()
    first = make_witness(tmp_path, [log], clock=clock, signers=[old])
    assert first.process(parse_add_checkpoint(log.body(0, 4))).count(b"\n") == 1
    both = make_witness(tmp_path, [log], clock=clock, signers=[old, new])
    assert not both.is_cosigned_by_me(log.checkpoint(4))
    lines = both.process(parse_add_checkpoint(log.body(4, 4)))
    assert [s.key_id for s in parse_signature_lines(lines)] == [old.key_id, new.key_id]
    state = both.state_of(log.origin)
    assert state is not None and both.is_cosigned_by_me(state.checkpoint)
    only_old = add_signatures(log.checkpoint(4), parse_signature_lines(lines)[0].line().encode())
    assert both.is_cosigned_by_me(only_old)  # a log that knows one key has nothing to wait for
    # Within refresh_s the same lines come back; nothing is signed again.
    assert both.process(parse_add_checkpoint(log.body(4, 4))) == lines
    assert len(parse_note(state.checkpoint).signatures) == 3  # the log's and two cosignatures


@pytest.mark.parametrize("state", ["active", "retired"])
def test_every_key_file_must_be_0600(tmp_path: Path, state: str) -> None:
    active, other = CosignatureSigner.generate(NAME), CosignatureSigner.generate(NAME)
    _write_key(tmp_path / "a.key", active)
    _write_key(tmp_path / "b.key", other, mode=0o644)
    keys = (KeyConfig(tmp_path / "a.key"), KeyConfig(tmp_path / "b.key", state=state))
    with pytest.raises(PermissionError, match=re.escape(f"run 'chmod 600 {tmp_path / 'b.key'}'")):
        load_keys(NAME, tmp_path / "unused.key", keys)


def test_listed_keys_must_be_the_witness_s_and_distinct(tmp_path: Path) -> None:
    signer = CosignatureSigner.generate(NAME)
    _write_key(tmp_path / "a.key", signer)
    stranger = CosignatureSigner.generate("other.example/w")
    with pytest.raises(ValueError, match="want the witness name"):
        load_keys(NAME, tmp_path / "x", (KeyConfig(tmp_path / "a.key"),
                                          KeyConfig(vkey=stranger.vkey(), state="retired")))
    with pytest.raises(ValueError, match="listed twice"):
        load_keys(NAME, tmp_path / "x", (KeyConfig(tmp_path / "a.key"),
                                          KeyConfig(vkey=signer.vkey(), state="retired")))
    with pytest.raises(ValueError, match="vkey"):
        load_keys(NAME, tmp_path / "x", (KeyConfig(tmp_path / "a.key"),
                                          KeyConfig(vkey=TestLog().signer.vkey(), state="retired")))
    created = load_keys(NAME, tmp_path / "x", (KeyConfig(tmp_path / "new.key"),))
    assert created.created == (tmp_path / "new.key",)
    assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
