"""The resources weft_xds_translate() produces pass the validation of the
proxyless gRPC client itself: @grpc/grpc-js-xds's resource types decide
ACK or NACK with the decode() that tests/proto/validate-resources.js runs on
the snapshot of the unit test's fixture (tests/unit/test_xds_translate.c)."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"


def unit_binary():
    build = pathlib.Path(os.environ.get("WEFT_BUILD", str(ROOT / "build")))
    target = build / "tests" / "test_xds_translate"
    args = ["make", "-s", "-C", str(ROOT), f"BUILD={build}", str(target)]
    if build.name == "build-san":
        args.append("SANITIZE=1")
    subprocess.run(args, check=True, capture_output=True, timeout=600)
    return target


def test_grpc_js_xds_accepts_resources(tmp_path):
    if shutil.which("node") is None:
        pytest.fail("node is required")
    binary = unit_binary()
    env = dict(os.environ, WEFT_XDS_DUMP=str(tmp_path))
    subprocess.run([str(binary)], check=True, capture_output=True, env=env, timeout=120)
    res = subprocess.run(["node", str(ROOT / "tests" / "proto" / "validate-resources.js"),
                          str(tmp_path), str(NODE_MODULES)], capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert "30 resources" in out, out
    rejected = [l for l in res.stdout.splitlines() if l.startswith(("REJECTED", "MISNAMED"))]
    # The only resource a gRPC client refuses is the RouteConfiguration of
    # the fixture's plain-http port, for its RequestRedirect: grpc-js NACKs
    # redirect actions, so weft emits them on http ports only, which gRPC
    # clients do not dial. Its grpc port (9090) must be accepted.
    assert len(rejected) == 1, out
    assert rejected[0].startswith("REJECTED RouteConfiguration web.default.svc.cluster.local:8080:"), out
    assert "unsupported action: redirect" in rejected[0], out
