"""CLI commands for the video area; registered on the main typer app by `wsshm_rt.cli`.

Heavy imports (torch, av, ...) happen inside the command functions, never at module import.
"""

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
