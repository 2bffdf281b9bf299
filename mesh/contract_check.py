"""Guards on the contracts: `buf lint` and `buf breaking`, offline.

`python -m mesh.contract_check deps|lint|breaking [--against REF]`

buf resolves `google/api/*.proto` from a copy of the installed
googleapis-common-protos wheel under build/googleapis (git-ignored), so nothing
third-party is committed and no remote dependency is fetched.

`breaking` compares protos/ with git revisions. Default: the committed contract,
and each of the last PUBLISHED_STATES states of protos/ in the history before it.
So uncommitted edits are checked against what is committed, and CI's fresh clone
checks the tip against every recent published state: a break made in one commit
of a submission and followed by others is still caught.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mesh.codegen import ROOT, googleapis_include

BUF = Path(sys.executable).parent / "buf"
GOOGLEAPIS_FILES = (
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/type/date.proto",
)


def deps(root: Path = ROOT) -> Path:
    target = root / "build" / "googleapis"
    for name in GOOGLEAPIS_FILES:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(googleapis_include() / name, dest)
    return target


def lint(root: Path = ROOT) -> int:
    deps(root)
    return subprocess.run([str(BUF), "lint"], cwd=root, check=False).returncode


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


PUBLISHED_STATES = 10


def default_against(root: Path = ROOT) -> list[str]:
    """Revisions whose contract the working tree must not break (newest first)."""
    changed = _git(root, "log", f"-n{PUBLISHED_STATES + 1}", "--format=%H", "--", "protos")
    revisions = changed.stdout.split()
    dirty = bool(_git(root, "status", "--porcelain", "--", "protos").stdout.strip())
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD").stdout.strip()
    if revisions and revisions[0] == head and not dirty:
        revisions = revisions[1:]  # the tip itself is what is being checked
    return revisions[:PUBLISHED_STATES]


def breaking(root: Path = ROOT, against: str | None = None) -> int:
    """0 when the working tree breaks none of the revisions (buf's exit code if it does)."""
    revisions = [against] if against else default_against(root)
    if not revisions:
        print("no earlier revision: nothing to compare")
        return 0
    deps(root)
    for revision in revisions:
        code = _breaking_against(root, revision)
        if code != 0:
            return code
    return 0


def _breaking_against(root: Path, against: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", against, "protos", "buf.yaml"],
            cwd=root,
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            message = archive.stderr.decode(errors="replace")
            if "did not match any files" in message:
                print(f"{against} has no protos/: nothing to compare")
                return 0
            print(message, file=sys.stderr)
            return 2
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        shutil.copytree(root / "build" / "googleapis", old / "build" / "googleapis")
        image = old / "against.binpb"
        built = subprocess.run([str(BUF), "build", "-o", str(image)], cwd=old, check=False)
        if built.returncode != 0:
            return built.returncode
        # Compare image with image: buf sees the workspace as two modules otherwise.
        current = old / "current.binpb"
        built = subprocess.run([str(BUF), "build", "-o", str(current)], cwd=root, check=False)
        if built.returncode != 0:
            return built.returncode
        result = subprocess.run(
            [str(BUF), "breaking", str(current), "--against", str(image), "--config", "buf.yaml"],
            cwd=root,
            check=False,
        )
        if result.returncode == 0:
            print(f"no breaking change against {against}")
        return result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mesh.contract_check")
    parser.add_argument("check", choices=["deps", "lint", "breaking"])
    parser.add_argument("--against", help="git revision to compare with (breaking)")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    if args.check == "deps":
        print(deps(args.root))
        return
    code = lint(args.root) if args.check == "lint" else breaking(args.root, args.against)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
