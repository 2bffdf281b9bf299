"""Guards on the contracts: `buf lint` and `buf breaking`, offline.

`python -m mesh.contract_check deps|lint|breaking [--against REF]`

buf resolves `google/api/*.proto` from a copy of the installed
googleapis-common-protos wheel under build/googleapis (git-ignored), so nothing
third-party is committed and no remote dependency is fetched.

`breaking` compares protos/ with a git revision. Default: HEAD when protos/ has
uncommitted changes (what you are about to commit), else HEAD~1 (what the last
commit on main changed, which is what CI sees in its fresh clone).
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
GOOGLEAPIS_FILES = ("google/api/annotations.proto", "google/api/http.proto")


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


def default_against(root: Path = ROOT) -> str | None:
    if _git(root, "status", "--porcelain", "--", "protos").stdout.strip():
        return "HEAD"
    if _git(root, "rev-parse", "--verify", "--quiet", "HEAD~1").returncode == 0:
        return "HEAD~1"
    return None  # a first commit has nothing to break


def breaking(root: Path = ROOT, against: str | None = None) -> int:
    against = against or default_against(root)
    if against is None:
        print("no earlier revision: nothing to compare")
        return 0
    deps(root)
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
