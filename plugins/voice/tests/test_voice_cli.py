"""``burgerhub voice render``: the spoken message as a WAV file, made by espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hub.templates import MessageTemplates
from plugins.voice import VoiceChannel, register_commands, speech
from plugins.voice.cli import preview_notice
from hub.models import ActionType

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def cli() -> click.Group:
    group = click.Group("burgerhub")
    register_commands(cli=group)
    return group


def duration(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getnframes() / w.getframerate()


@needs_espeak
def test_render_writes_a_wav_of_the_whole_message(tmp_path):
    out = tmp_path / "call.wav"
    result = CliRunner().invoke(
        cli(),
        ["voice", "render", "--type", "missing_person", "--description", "Jongen van 5, rode jas",
         "--out", str(out), "--print-text"],
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "Jongen van 5, rode jas" in result.output
    twice = duration(out)
    once_out = tmp_path / "once.wav"
    result = CliRunner().invoke(
        cli(), ["voice", "render", "--description", "Jongen van 5, rode jas", "--repeat", "1", "--out", str(once_out)]
    )
    assert result.exit_code == 0, result.output
    once = duration(once_out)
    # a full Dutch alert read once takes many seconds; read twice, nearly twice as long
    assert once > 8
    assert 1.6 * once < twice < 2.4 * once


@needs_espeak
def test_render_in_english_and_for_a_closing_message(tmp_path):
    out = tmp_path / "end.wav"
    result = CliRunner().invoke(
        cli(),
        ["voice", "render", "--description", "Red car", "--type", "suspicious_vehicle", "--kind", "end",
         "--result", "arrested", "--language", "en", "--out", str(out), "--print-text"],
    )
    assert result.exit_code == 0, result.output
    assert "The suspect has been arrested." in result.output
    assert duration(out) > 3


@needs_espeak
def test_the_real_burgerhub_command_has_it(tmp_path):
    out = tmp_path / "cli.wav"
    exe = Path(sys.executable).with_name("burgerhub")
    proc = subprocess.run(
        [str(exe), "voice", "render", "--description", "Man met rode pet", "--repeat", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert duration(out) > 5


def test_a_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    out = tmp_path / "x.wav"
    result = CliRunner().invoke(cli(), ["voice", "render", "--description", "Jongen", "--out", str(out)])
    assert result.exit_code == 1
    assert "espeak-ng is not installed" in result.output and "apt-get install espeak-ng" in result.output
    assert not out.exists()


def test_espeak_failure_is_reported(tmp_path, monkeypatch):
    fake = tmp_path / "espeak-ng"
    fake.write_text("#!/bin/sh\necho 'voice not found' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    result = CliRunner().invoke(cli(), ["voice", "render", "--description", "Jongen", "--out", str(tmp_path / "x.wav")])
    assert result.exit_code == 1
    assert "espeak-ng failed (3): voice not found" in result.output


def test_the_spoken_ssml_matches_the_call():
    notice = preview_notice(ActionType.MISSING_PERSON, "Meisje & <hond>", reference="AB12CD")
    script = speech.compose(MessageTemplates(VoiceChannel.templates_dir), notice, "nl")
    ssml = speech.espeak_ssml(script)
    assert ssml.startswith('<speak xml:lang="nl">')
    assert '<prosody rate="slow">0, 8, 0, 0<break time="400ms" />0, 0, 1, 1</prosody>' in ssml
    assert '<say-as interpret-as="characters">AB12CD</say-as>' in ssml
    assert "Meisje &amp; &lt;hond&gt;" in ssml
    assert ssml.count('<break time="1000ms" />') == 2  # between the reads, before the goodbye


@pytest.mark.parametrize("reference", ["AB1", "AB12CD7", "AB-2CD", "ÀB12CD"])
def test_the_reference_must_be_six_letters_or_digits(tmp_path, reference):
    result = CliRunner().invoke(
        cli(), ["voice", "render", "--description", "x", "--reference", reference, "--out", str(tmp_path / "x.wav")]
    )
    assert result.exit_code == 2 and "six letters or digits" in result.output
