"""`restorelab demo`: start the Streamlit demo (`restorelab.demo_app`) as a server process of
its own, with Streamlit's own options passed through."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the interactive Streamlit demo",
        description="Starts the Streamlit demo. Streamlit's own options pass through, e.g. "
        "`restorelab demo --server.address 0.0.0.0`.",
    )
    p.add_argument("--checkpoint", "-c", help="preselected run folder, .ckpt or .safetensors")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true", help="do not open a browser")


def run(args: argparse.Namespace) -> None:
    import os
    import signal
    import subprocess

    from restorelab import demo_app

    command = [
        sys.executable, "-m", "streamlit", "run", demo_app.__file__,
        "--server.port", str(args.port),
        "--server.maxUploadSize", str(demo_app.MAX_UPLOAD_MEGABYTES),
        "--browser.gatherUsageStats", "false",
    ]
    if args.headless:
        command += ["--server.headless", "true"]
    command += args.passthrough  # Streamlit's own flags (--server.address ...), as given
    env = dict(os.environ)
    if args.checkpoint:
        env[demo_app.CHECKPOINT_ENV] = str(Path(args.checkpoint).resolve())
    server = subprocess.Popen(command, env=env)
    # A SIGTERM to `restorelab demo` (timeout, systemd, docker stop, a test's teardown) reaches
    # this process only: hand it on, or the Streamlit server would outlive its command.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        code = server.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too (same process group)
        server.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise SystemExit(code)
