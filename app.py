"""Entry point for ``python app.py`` and for Hugging Face Spaces.

Loads the default model once (``COLBERT_VIZ_MODEL``, else jinaai/jina-colbert-v2;
the offline model when that cannot be loaded), builds the page and serves it on
``GRADIO_SERVER_NAME``:``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860).
``python app.py --mcp`` (or ``GRADIO_MCP_SERVER=True``) also serves the API as MCP
tools (streamable HTTP at ``/gradio_api/mcp/``). On a ZeroGPU Space the encodes run
inside ``spaces.GPU`` (``colbert_viz.engine.zerogpu``), decorated before the launch.
SIGTERM (how Spaces and containers stop a process) stops it as Ctrl-C does, so the
same clean-up runs: the private collections, the exports and the demo folder go.
"""

from __future__ import annotations

import argparse
import os
import signal

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from colbert_viz.app.limits import Limits
from colbert_viz.app.registry import ModelRegistry
from colbert_viz.app.ui import build_app, launch_options
from colbert_viz.engine import zerogpu


def stop_on_sigterm() -> None:
    """Make SIGTERM raise ``KeyboardInterrupt``, as Ctrl-C does: Gradio closes its server,
    ``main`` returns and the exit handlers remove the process's folders."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the colbert-viz page.")
    parser.add_argument("--mcp", action="store_true",
                        help="also serve the API as MCP tools at /gradio_api/mcp/ (as GRADIO_MCP_SERVER=True does)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stop_on_sigterm()
    if zerogpu.gpu_function() is not None:  # before any model loads; ZeroGPU wants it decorated before launch
        print("colbert-viz: ZeroGPU: each encode runs in spaces.GPU, the model moved to the GPU there")
    registry = ModelRegistry.from_env()
    model = registry.start()
    if registry.startup_note:
        print(f"colbert-viz: {registry.startup_note}")
    print(f"colbert-viz: serving {model.info.display_name} on {model.info.device} ({model.info.dtype_reason})")
    limits = Limits.from_env()
    demo = build_app(registry, limits=limits, demo_collection=True)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        mcp_server=True if args.mcp else None,  # None: Gradio reads GRADIO_MCP_SERVER
        **launch_options(limits),
    )


if __name__ == "__main__":
    main()
