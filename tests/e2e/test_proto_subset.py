"""api/ declares a subset of the upstream xDS protos: same packages, message
names, field numbers and types. tests/proto/check-subset.js compares them
against the definitions shipped in @grpc/grpc-js-xds (deps/)."""
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "proto" / "check-subset.js"
API = ROOT / "api"
NODE_MODULES = ROOT / "node_modules"


def run_check(api_dir):
    if shutil.which("node") is None:
        pytest.fail("node is required for the proto subset check")
    if not (NODE_MODULES / "@grpc" / "grpc-js-xds" / "deps").is_dir():
        pytest.fail("node_modules/@grpc/grpc-js-xds is missing: run 'make deps'")
    return subprocess.run(["node", str(SCRIPT), str(api_dir), str(NODE_MODULES)],
                          capture_output=True, text=True, timeout=120)


def test_api_matches_upstream():
    res = run_check(API)
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(r"(\d+) files, (\d+) types, (\d+) fields/values checked, 0 mismatches", res.stdout)
    assert m, res.stdout
    assert int(m.group(1)) >= 20 and int(m.group(3)) >= 200


def _broken_copy(tmp_path, rel, old, new):
    dst = tmp_path / "api"
    shutil.copytree(API, dst)
    f = dst / rel
    text = f.read_text()
    assert old in text, f"{old!r} not in {rel}"
    f.write_text(text.replace(old, new, 1))
    return dst


def test_changed_field_number_fails(tmp_path):
    api = _broken_copy(tmp_path, "envoy/config/route/v3/route_components.proto",
                       "RetryPolicy retry_policy = 9;", "RetryPolicy retry_policy = 10;")
    res = run_check(api)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "RouteAction.retry_policy: id 10, upstream 9" in res.stdout


def test_changed_type_and_label_fail(tmp_path):
    api = _broken_copy(tmp_path, "envoy/config/cluster/v3/cluster.proto",
                       "string service_name = 2;", "bytes service_name = 2;")
    f = api / "envoy/config/endpoint/v3/endpoint.proto"
    f.write_text(f.read_text().replace("repeated LocalityLbEndpoints endpoints", "LocalityLbEndpoints endpoints"))
    res = run_check(api)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "EdsClusterConfig.service_name: type bytes, upstream string" in res.stdout
    assert "ClusterLoadAssignment.endpoints: label singular, upstream repeated" in res.stdout


def test_unknown_message_and_enum_value_fail(tmp_path):
    api = _broken_copy(tmp_path, "envoy/type/v3/percent.proto", "MILLION = 2;", "MILLION = 2;\n    BILLION = 3;")
    (api / "envoy/type/v3/percent.proto").write_text(
        (api / "envoy/type/v3/percent.proto").read_text() + "\nmessage NotUpstream {\n  string a = 1;\n}\n")
    res = run_check(api)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "DenominatorType.BILLION: no such enum value upstream" in res.stdout
    assert ".envoy.type.v3.NotUpstream: no message of that name upstream" in res.stdout
