"""The contracts are the source of truth: lint-clean, fresh in gen/, each RPC with
an access rule and an HTTP route, and breaking changes caught."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2

from mesh import codegen, contract_check, contracts

ROOT = codegen.ROOT


def _diff(left: Path, right: Path) -> list[str]:
    # openapi.json is edge.openapi's output, checked by its own test below.
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__", "openapi.json"])
    found = [f"only in gen/: {n}" for n in cmp.left_only]
    found += [f"missing from gen/: {n}" for n in cmp.right_only]
    found += [f"stale: {n}" for n in cmp.diff_files]
    for name, _sub in cmp.subdirs.items():
        found += [f"{name}/{item}" for item in _diff(left / name, right / name)]
    return found


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    codegen.generate(tmp_path)
    stale = _diff(ROOT / "gen", tmp_path)
    assert not stale, f"gen/ is stale, run `make gen`: {stale}"


def test_openapi_document_is_fresh_and_valid(tmp_path: Path) -> None:
    import json

    from openapi_spec_validator import validate

    from edge import openapi

    codegen.generate(tmp_path)
    fresh = openapi.document(tmp_path / codegen.DESCRIPTOR_SET)
    committed = json.loads(openapi.OUT.read_text())
    assert committed == fresh, "gen/openapi.json is stale, run `make gen`"
    validate(committed)
    http_rules = {m.path for m in contracts.methods().values() if not m.internal}
    operations = {
        op["x-grpc-method"]: op for item in committed["paths"].values() for op in item.values()
    }
    assert set(operations) == http_rules  # every RPC is a REST operation too
    for path, method in contracts.methods().items():
        if not method.internal:
            assert (operations[path].get("security") == []) is method.public, path


def test_buf_lint_passes() -> None:
    assert contract_check.lint() == 0


def test_every_rpc_declares_access_rule() -> None:
    missing = [path for path, m in contracts.methods().items() if not m.declared]
    assert not missing, f"RPCs without (erp.common.v1.access): {missing}"
    for path, method in contracts.methods().items():
        if method.public or method.internal:
            assert not method.permission, f"{path} is public/internal but names a permission"
            assert not (method.public and method.internal), f"{path}: public and internal"
        else:
            assert method.permission.count(".") == 2, f"{path}: bad permission"
            assert method.feature, f"{path} declares no subscription feature"


def test_every_rpc_but_internal_ones_has_an_http_rule() -> None:
    fds = contracts.descriptor_set()
    internal = {p for p, m in contracts.methods().items() if m.internal}
    for file in fds.file:
        if not file.package.startswith("erp."):
            continue
        for service in file.service:
            for method in service.method:
                path = f"/{file.package}.{service.name}/{method.name}"
                routed = bool(method.options.Extensions[annotations_pb2.http].WhichOneof("pattern"))
                # Internal RPCs must not be reachable as REST through the edge.
                assert routed is (path not in internal), f"{path}: route vs internal"


def test_events_are_declared_in_their_domain_package() -> None:
    events = contracts.event_types()
    assert events["auth.tenant.created"] == "erp.auth.v1.TenantCreated"
    assert events["billing.entitlements.changed"] == "erp.billing.v1.EntitlementsChanged"
    for event_type, message in events.items():
        domain = event_type.split(".")[0]
        assert message.startswith(f"erp.{domain}.v1."), (event_type, message)
        assert event_type.count(".") == 2, event_type


def test_descriptor_set_carries_error_details_for_envoy() -> None:
    names = {f.name for f in contracts.descriptor_set().file}
    assert {"google/rpc/error_details.proto", "google/api/annotations.proto"} <= names


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A throwaway git repo holding a copy of our protos and buf.yaml."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(ROOT / "protos", repo / "protos")
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    return repo


def test_breaking_check_passes_on_unchanged_contracts(scratch_repo: Path) -> None:
    assert contract_check.breaking(scratch_repo, "HEAD") == 0


def test_breaking_check_catches_a_renumbered_field(scratch_repo: Path) -> None:
    money = scratch_repo / "protos/erp/common/v1/money.proto"
    text = money.read_text()
    assert "int64 amount_minor = 2;" in text
    money.write_text(text.replace("int64 amount_minor = 2;", "int64 amount_minor = 3;"))
    head = _rev(scratch_repo, "HEAD")
    assert contract_check.default_against(scratch_repo) == [head]  # uncommitted vs committed
    assert contract_check.breaking(scratch_repo) != 0


def _commit(repo: Path, message: str) -> None:
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", message)


def _rev(repo: Path, name: str) -> str:
    out = subprocess.run(["git", "rev-parse", name], cwd=repo, capture_output=True, text=True)
    return out.stdout.strip()


def test_breaking_check_in_ci_sees_a_break_buried_under_later_commits(scratch_repo: Path) -> None:
    """CI's clone: the break is in an earlier commit of the submission, not the tip."""
    money = scratch_repo / "protos/erp/common/v1/money.proto"
    money.write_text(money.read_text().replace("string currency_code = 1;", "string currency = 1;"))
    _commit(scratch_repo, "rename a field")
    paging = scratch_repo / "protos/erp/common/v1/paging.proto"
    paging.write_text(paging.read_text() + "\n// A harmless comment.\n")
    _commit(scratch_repo, "a later, harmless change")
    assert _rev(scratch_repo, "HEAD~2") in contract_check.default_against(scratch_repo)
    assert contract_check.breaking(scratch_repo) != 0


def test_contracts_break_nothing_against_previous_commit() -> None:
    """CI's guard: the contracts in this checkout break nothing published before."""
    assert contract_check.breaking() == 0
