#!/usr/bin/env python3
"""Point a service's varcade-workers pin at a wheel the Docker build was given, if any.

Runs inside the image build (standard library only), before `pip install -r requirements.txt`:
- a wheel with the pinned file name in --local-wheels (the `local-wheels` build context, e.g. CI's
  wheel from the same commit before its release exists) is used from there;
- else, with a GitHub token in the BuildKit secret file (--token-file, private repository), the
  release asset is downloaded through the GitHub API into --download-dir and used from there;
- else the requirements file is left alone and pip downloads the pinned URL.
The pin's #sha256 is kept in every case, so pip refuses any wheel that is not the pinned release.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PIN_RE = re.compile(
    r"^(?P<name>varcade-workers(?:\[[a-z0-9,_-]+\])?) @ "
    r"https://github\.com/(?P<repository>[^/\s]+/[^/\s]+)/releases/download/"
    r"(?P<tag>[^/\s#]+)/(?P<wheel>[^/\s#]+\.whl)#sha256=(?P<sha256>[0-9a-f]{64})\s*$"
)


def download_asset(api: str, repository: str, tag: str, wheel: str, token: str, out: Path) -> Path:
    """Fetch a release asset of a private repository (the token never follows the redirect)."""
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    request = urllib.request.Request(
        f"{api}/repos/{repository}/releases/tags/{tag}", headers=headers
    )
    request.add_unredirected_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        assets = json.load(response)["assets"]
    asset = next((a for a in assets if a["name"] == wheel), None)
    if asset is None:
        raise SystemExit(f"release {tag} of {repository} has no asset {wheel}")
    request = urllib.request.Request(asset["url"], headers={"Accept": "application/octet-stream"})
    request.add_unredirected_header("Authorization", f"Bearer {token}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / wheel
    with urllib.request.urlopen(request, timeout=300) as response:
        target.write_bytes(response.read())
    return target


def rewrite(text: str, local: Path | None, token: str, download_dir: Path, api: str) -> str:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = PIN_RE.match(line.strip())
        if not match:
            continue
        candidate = local / match["wheel"] if local else None
        if candidate is not None and candidate.is_file():
            wheel = candidate
            print(f"varcade-workers: using {wheel} from the local-wheels build context")
        elif token:
            wheel = download_asset(
                api, match["repository"], match["tag"], match["wheel"], token, download_dir
            )
            print(f"varcade-workers: downloaded {match['wheel']} with the github_token secret")
        else:
            print("varcade-workers: pip downloads the pinned release URL")
            return text
        lines[index] = f"{match['name']} @ {wheel.resolve().as_uri()}#sha256={match['sha256']}"
        return "\n".join(lines) + "\n"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("requirements", type=Path, help="requirements.txt to rewrite in place")
    p.add_argument("--local-wheels", type=Path, default=None, help="folder of supplied wheels")
    p.add_argument(
        "--token-file",
        type=Path,
        default=Path("/run/secrets/github_token"),
        help="BuildKit secret holding a GitHub token (private repository); absent: not used",
    )
    p.add_argument("--download-dir", type=Path, default=Path("/tmp/varcade-wheels"))
    p.add_argument(
        "--api", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"), help="API base"
    )
    args = p.parse_args(argv)
    token = args.token_file.read_text().strip() if args.token_file.is_file() else ""
    text = args.requirements.read_text(encoding="utf-8")
    args.requirements.write_text(
        rewrite(text, args.local_wheels, token, args.download_dir, args.api), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
