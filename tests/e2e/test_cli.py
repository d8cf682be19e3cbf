"""The weft command's dispatcher."""
import subprocess


def test_help_lists_commands(weft_bin):
    out = subprocess.run([weft_bin, "--help"], capture_output=True, text=True, check=True)
    assert "version" in out.stdout


def test_unknown_command_fails(weft_bin):
    res = subprocess.run([weft_bin, "no-such-command"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "unknown command" in res.stderr
