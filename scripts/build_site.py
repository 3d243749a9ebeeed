#!/usr/bin/env python3
"""Build the static site: one folder any static host serves (GitHub Pages, a school's web space).

    python3 scripts/build_site.py --out site [--models-base URL] [--wasm-opt PATH]

Takes what `make wasm` and `make models` made (pkg/, www/, index.html, sw.js) and writes:
  index.html               pointing at the content-hashed entry files
  www/main.<hash>.js       www/worker.<hash>.js, www/style.<hash>.css
  pkg/deviate.<hash>.js    pkg/deviate_bg.<hash>.wasm (wasm-opt'd when --wasm-opt is given)
  sw.js                    its cache named after the build, its shell the hashed files
  www/data/toy_prefs.json  the toy preference set
  www/models/              manifest.json and the model files (with --models-base: the manifest
                           only, with `"base": URL`; the page fetches the files from there, CORS
                           and the manifest's integrity strings checked whatever the origin)
Every path is relative, so the folder works from a sub-path (/<repo>/ on GitHub Pages). A
hashed name changes whenever its content does, so a redeploy is never served stale.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
# GitHub refuses files over 100 MB in a Pages artifact's repository and many hosts cap a file.
MAX_FILE_BYTES = 100 * 1000 * 1000


def die(message):
    print(f"build_site: error: {message}", file=sys.stderr)
    sys.exit(1)


def short_hash(data):
    return hashlib.sha256(data).hexdigest()[:12]


def replace_once(text, old, new, where):
    """Replaces the one occurrence of `old`; a build that no longer matches its source stops."""
    count = text.count(old)
    if count != 1:
        die(f"{where}: expected one {old!r}, found {count}: update scripts/build_site.py")
    return text.replace(old, new)


def hashed_name(name, data):
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{short_hash(data)}{dot}{ext}"


def optimise_wasm(source, wasm_opt):
    """The wasm after wasm-opt -Oz (the feature flags are those rustc's wasm32 target emits, with
    .cargo/config.toml's simd128).
    A pass takes minutes, so its result is kept by the input's hash in the build folder."""
    data = source.read_bytes()
    cache = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "wasm-opt"
    cached = cache / f"{hashlib.sha256(data).hexdigest()}-Oz.wasm"
    if cached.exists():
        print(f"build_site: wasm-opt result from {cached}")
        return cached.read_bytes()
    cache.mkdir(parents=True, exist_ok=True)
    features = ["--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext",
                "--enable-mutable-globals", "--enable-reference-types", "--enable-multivalue", "--enable-simd"]
    print(f"build_site: wasm-opt -Oz on {len(data) / 1e6:.1f} MB (a few minutes)", flush=True)
    partial = cached.with_suffix(".partial")
    subprocess.run([wasm_opt, "-Oz", *features, str(source), "-o", str(partial)], check=True)
    partial.replace(cached)
    return cached.read_bytes()


def content_security_policy(html, models_base):
    """The page's CSP, allowing the models' origin when they are served from elsewhere."""
    if not models_base:
        return html
    parsed = urlparse(models_base)
    origin = f"{parsed.scheme}://{parsed.netloc}"
    return replace_once(html, "connect-src 'self'", f"connect-src 'self' {origin}", "index.html")


def write(out, relative, data):
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return relative


def link_or_copy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_code(out, wasm_opt):
    """Writes the hashed code files; returns {source name: site path} for the entry points."""
    wasm = (ROOT / "pkg/deviate_bg.wasm")
    if not wasm.exists():
        die("pkg/deviate_bg.wasm is missing: run `make wasm`")
    wasm_data = optimise_wasm(wasm, wasm_opt) if wasm_opt else wasm.read_bytes()
    wasm_name = write(out, "pkg/" + hashed_name("deviate_bg.wasm", wasm_data), wasm_data)

    glue = (ROOT / "pkg/deviate.js").read_text()
    glue = replace_once(glue, "'deviate_bg.wasm'", f"'{Path(wasm_name).name}'", "pkg/deviate.js")
    glue_name = write(out, "pkg/" + hashed_name("deviate.js", glue.encode()), glue)

    import_line = "from '../pkg/deviate.js'"
    worker = replace_once((ROOT / "www/worker.js").read_text(), import_line, f"from '../{glue_name}'", "www/worker.js")
    worker_name = write(out, "www/" + hashed_name("worker.js", worker.encode()), worker)

    main = replace_once((ROOT / "www/main.js").read_text(), import_line, f"from '../{glue_name}'", "www/main.js")
    main = replace_once(main, "new URL('worker.js', import.meta.url)", f"new URL('{Path(worker_name).name}', import.meta.url)", "www/main.js")
    main_name = write(out, "www/" + hashed_name("main.js", main.encode()), main)

    css = (ROOT / "www/style.css").read_bytes()
    css_name = write(out, "www/" + hashed_name("style.css", css), css)
    return [main_name, css_name, worker_name, glue_name, wasm_name]


def build_models(out, models_base):
    """Copies (or, with a base URL, only lists) the model files; returns the manifest's path."""
    manifest_path = ROOT / "www/models/manifest.json"
    if not manifest_path.exists():
        die("www/models/manifest.json is missing: run `make models`")
    manifest = json.loads(manifest_path.read_text())
    if models_base:
        if urlparse(models_base).scheme not in ("https", "http"):
            die(f"--models-base must be an http(s) address, not {models_base!r}")
        manifest["base"] = models_base if models_base.endswith("/") else models_base + "/"
    else:
        for entry in manifest["files"]:
            source = ROOT / "www/models" / entry["file"]
            if source.stat().st_size != entry["bytes"]:
                die(f"{source} does not match manifest.json: run `make models`")
            link_or_copy(source, out / "www/models" / entry["file"])
    return write(out, "www/models/manifest.json", json.dumps(manifest, indent=2) + "\n")


def build(out, models_base, wasm_opt):
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    main_name, css_name, *code = build_code(out, wasm_opt)
    data_name = write(out, "www/data/toy_prefs.json", (ROOT / "www/data/toy_prefs.json").read_bytes())
    manifest_name = build_models(out, models_base)

    html = (ROOT / "index.html").read_text()
    html = replace_once(html, 'href="www/style.css"', f'href="{css_name}"', "index.html")
    html = replace_once(html, 'src="www/main.js"', f'src="{main_name}"', "index.html")
    html = content_security_policy(html, models_base)
    write(out, "index.html", html)

    shell = ["./", "index.html", main_name, css_name, *code, data_name, manifest_name]
    build_id = short_hash("".join(shell).encode())
    sw = (ROOT / "sw.js").read_text()
    sw = re.sub(r"^const CACHE = .*;$", f"const CACHE = 'deviate-app-{build_id}';", sw, count=1, flags=re.M)
    sw = re.sub(r"^const SHELL = .*;$", f"const SHELL = {json.dumps(shell)};", sw, count=1, flags=re.M)
    if build_id not in sw or json.dumps(shell) not in sw:
        die("sw.js: the CACHE and SHELL lines were not found: update scripts/build_site.py")
    write(out, "sw.js", sw)
    return build_id


def report(out):
    files = sorted((p for p in out.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size, reverse=True)
    total = sum(p.stat().st_size for p in files)
    manifest = json.loads((out / "www/models/manifest.json").read_text())
    models = sum(entry["bytes"] for entry in manifest["files"])
    page = sum(p.stat().st_size for p in files if not (p.parent == out / "www/models" and p.name != "manifest.json"))
    print(f"build_site: a learner downloads {(models + page) / 1e6:.1f} MB: the models {models / 1e6:.1f} MB "
          f"({len(manifest['files'])} files of manifest.json, once: the browser keeps them), the page {page / 1e6:.1f} MB")
    print(f"build_site: {out}: {len(files)} files, {total / 1e6:.1f} MB; largest:")
    for path in files[:5]:
        print(f"  {path.stat().st_size / 1e6:8.2f} MB  {path.relative_to(out)}")
    too_big = [p for p in files if p.stat().st_size > MAX_FILE_BYTES]
    if too_big:
        die(f"{too_big[0].relative_to(out)} is over 100 MB, too large for GitHub Pages: serve the models "
            "from elsewhere with MODELS_BASE=URL")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site")
    parser.add_argument("--models-base", default=os.environ.get("MODELS_BASE") or None,
                        help="serve the model files from this address (default: next to the page)")
    parser.add_argument("--wasm-opt", help="path of binaryen's wasm-opt (default: no wasm-opt pass)")
    args = parser.parse_args()
    out = args.out.resolve()
    if out == ROOT or ROOT.is_relative_to(out):
        die(f"--out {out} would delete the repository")
    build_id = build(out, args.models_base, args.wasm_opt)
    print(f"build_site: build {build_id}")
    report(out)


if __name__ == "__main__":
    main()
