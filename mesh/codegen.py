"""Generate gen/ from protos/: message classes, gRPC stubs, typed stubs, descriptor set.

`python -m mesh.codegen [OUT]` (or `make gen`) is the only way gen/ is written.
The google/api and google/rpc protos come from the installed googleapis-common-protos
wheel; they are put on protoc's include path, never copied into the repository.
"""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

import google.api
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
BIN = Path(sys.executable).parent  # mypy-protobuf's plugins live beside the interpreter
DESCRIPTOR_SET = "erp.binpb"
# Extra files the descriptor set carries so Envoy can render error details as JSON.
EXTRA_DESCRIPTOR_FILES = ("google/rpc/error_details.proto", "google/rpc/status.proto")


def googleapis_include() -> Path:
    """Site-packages folder that holds google/api/*.proto from googleapis-common-protos."""
    return Path(next(iter(google.api.__path__))).parent.parent


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def include_args() -> list[str]:
    wkt = resources.files("grpc_tools") / "_proto"
    return [f"-I{PROTOS}", f"-I{googleapis_include()}", f"-I{wkt}"]


def _protoc(args: list[str]) -> None:
    # protoc and its plugins write to fd 2 (mypy-protobuf: a line per file); keep it
    # for when something fails.
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            code = protoc.main(["protoc", *include_args(), *args])
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if code != 0:
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise SystemExit(f"protoc failed ({code}): {' '.join(args[:3])} ...")


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = proto_files()
    _protoc(
        [
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
            f"--mypy_out={out}",
            f"--mypy_grpc_out={out}",
            *files,
        ]
    )
    _protoc(
        [
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out / DESCRIPTOR_SET}",
            *files,
            *EXTRA_DESCRIPTOR_FILES,
        ]
    )
    # Regular packages (not namespace packages) so setuptools and mypy find them.
    for folder in [out / "erp", *(p for p in (out / "erp").rglob("*") if p.is_dir())]:
        if folder.name != "__pycache__":
            (folder / "__init__.py").touch()
    (out / "erp" / "py.typed").touch()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "gen"
    generate(out)
    print(f"generated {len(proto_files())} proto files into {out}")


if __name__ == "__main__":
    main()
