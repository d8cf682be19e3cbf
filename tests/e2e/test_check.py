"""weft check: validates configuration files and directories."""
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mesh"


def run(weft_bin, *args):
    return subprocess.run([weft_bin, "check", *args], capture_output=True, text=True, timeout=30)


def test_example_mesh_is_valid(weft_bin):
    res = run(weft_bin, str(EXAMPLE))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    out = res.stdout.strip()
    assert len(out.splitlines()) == 1
    for part in ("1 Node", "3 Workload", "4 Service", "0 HTTPRoute", "1 GRPCRoute",
                 "1 DestinationPolicy", "5 files"):
        assert part in out, out


def test_single_file(weft_bin):
    res = run(weft_bin, str(EXAMPLE / "services.yaml"))
    assert res.returncode == 0, res.stderr
    assert "4 Service" in res.stdout


def test_broken_files_report_file_and_line(weft_bin, tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata: {name: svc}\n"
        "spec:\n"
        "  ports:\n"
        "  - port: 99999\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.yml").write_text(
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: GRPCRoute\n"
        "metadata: {name: r}\n"
        "spec:\n"
        "  parentRefs: [{name: missing}]\n"
        "  rules: [{}]\n")
    (tmp_path / "ignored.txt").write_text("this is not yaml: [")
    res = run(weft_bin, str(tmp_path))
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert f"{tmp_path}/a.yaml:6: spec.ports[0].port: 99999 is out of range (1..65535)" in lines
    assert f"{tmp_path}/sub/b.yml:5: spec.parentRefs[0]: no Service default/missing" in lines
    assert lines[-1].endswith("2 errors")


def test_yaml_syntax_error(weft_bin, tmp_path):
    bad = tmp_path / "tab.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n")
    res = run(weft_bin, str(bad))
    assert res.returncode == 1
    assert f"{bad}:4: " in res.stderr
    assert "tab" in res.stderr


def test_missing_path(weft_bin, tmp_path):
    res = run(weft_bin, str(tmp_path / "nope"))
    assert res.returncode == 1
    assert str(tmp_path / "nope") in res.stderr


def test_empty_directory_is_an_error(weft_bin, tmp_path):
    res = run(weft_bin, str(tmp_path))
    assert res.returncode == 1
    assert "no *.yaml" in res.stderr


def test_usage_errors(weft_bin):
    assert run(weft_bin).returncode == 2
    assert run(weft_bin, "a", "b").returncode == 2
    res = run(weft_bin, "--bogus")
    assert res.returncode == 2
    assert "usage" in res.stderr


def test_help(weft_bin):
    res = run(weft_bin, "--help")
    assert res.returncode == 0
    assert "usage: weft check PATH" in res.stdout
