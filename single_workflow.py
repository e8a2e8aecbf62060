"""Thin alias kept for the seed's users: `python single_workflow.py FILE_OR_URL` is
`tiktok-analyzer analyze FILE_OR_URL`."""

import sys

from tiktok_assets.cli import main

if __name__ == "__main__":
    sys.exit(main(["analyze", *sys.argv[1:]]))
