"""Copy the web UI's browser libraries from the npm registry into the package.

``package.json`` and ``package-lock.json`` at the repository root pin them; this script runs
``npm ci`` on a copy of the two in ``build/ui-npm/`` (so the repository never holds
``node_modules``) and copies only the files the UI loads, with their licences, into
``src/shipyard/server/ui/static/vendor/``. That folder is git-ignored and shipped in the wheel
(hatch ``artifacts``), so the UI needs no CDN. ``make ui-assets`` runs it when the lock file
changes.

    python scripts/vendor_ui.py           # install and copy
    python scripts/vendor_ui.py --check   # exit 1 when a file is missing
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "ui-npm"
VENDOR = ROOT / "src" / "shipyard" / "server" / "ui" / "static" / "vendor"

# package -> (file in the package, name under vendor/); the UI's templates load these names.
FILES: dict[str, list[tuple[str, str]]] = {
    "htmx.org": [("dist/htmx.min.js", "htmx.min.js"), ("LICENSE", "htmx.LICENSE.txt")],
    "uplot": [
        ("dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
        ("dist/uPlot.min.css", "uPlot.min.css"),
        ("LICENSE", "uPlot.LICENSE.txt"),
    ],
}


def missing() -> list[str]:
    """The vendor files that are not there."""
    return [name for files in FILES.values() for _, name in files
            if not (VENDOR / name).is_file()]


def install() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_ui: npm is not installed; install Node.js 20+ (it brings npm) and "
                 "run `make ui-assets` again")
    BUILD.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(ROOT / name, BUILD / name)
    # --ignore-scripts: the libraries are plain files; nothing from the registry runs here.
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                    "--loglevel=error"], cwd=BUILD, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    versions: dict[str, str] = {}
    for package, files in FILES.items():
        source = BUILD / "node_modules" / package
        versions[package] = json.loads((source / "package.json").read_text())["version"]
        for relative, name in files:
            shutil.copyfile(source / relative, VENDOR / name)
    (VENDOR / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    print(f"vendor_ui: copied {', '.join(f'{k} {v}' for k, v in versions.items())} "
          f"into {VENDOR.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only report missing files (exit 1 if any)")
    args = parser.parse_args()
    if args.check:
        absent = missing()
        if absent:
            sys.exit(f"vendor_ui: missing {', '.join(absent)}; run `make ui-assets`")
        return
    install()


if __name__ == "__main__":
    main()
