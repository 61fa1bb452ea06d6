"""Run recyclable as another user: ``as_user.py UID GID UMASK (cli ARGS | code SOURCE ARGS)``.

The test interpreter may live where other users cannot read (a per-user
Python install under /root), so the child starts as root, imports what the
run needs, and only then becomes the user (groups, gid, uid, umask): from
then on every file it touches is checked against that user's rights, as for
any member of the group.  ``cli`` runs ``recyclable ARGS``; ``code`` runs
SOURCE with ``sys.argv[1:] = ARGS``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import os
import pkgutil
import sys


def _preload() -> None:
    import numpy  # noqa: F401  (imported lazily by the library and the actions)
    import pipeline_actions  # noqa: F401

    import recyclable
    from recyclable.handlers import _LIBRARIES

    # A library's handler is imported only once the library is (see
    # recyclable.handlers): the run never needs those of libraries it does
    # not import, and importing them (torch, scikit-bio) took seconds per child.
    unused = {name for library, name in _LIBRARIES.items() if library not in sys.modules}
    for module in pkgutil.walk_packages(recyclable.__path__, "recyclable."):
        if module.name.endswith("__main__"):
            continue  # importing it would run the command
        if module.name in unused:
            continue
        with contextlib.suppress(ImportError):
            importlib.import_module(module.name)
    importlib.metadata.entry_points(group="recyclable.plugins")
    importlib.metadata.packages_distributions()  # imports the email parser metadata needs
    io.BytesIO()


def main() -> int:
    """Become the user, then run the command; returns its exit code."""
    uid, gid, umask, kind, *rest = sys.argv[1:]
    _preload()
    os.setgroups([int(gid)])
    os.setgid(int(gid))
    os.setuid(int(uid))
    os.umask(int(umask, 8))
    # Directories the user cannot read (the interpreter's own, under /root)
    # have served their imports; looking in them again would only raise.
    sys.path[:] = [p for p in sys.path if not p or os.access(p, os.R_OK | os.X_OK)]
    os.chdir(os.environ["HOME"])
    if kind == "cli":
        from recyclable.cli import main as cli_main

        return cli_main(rest)
    source, *args = rest
    sys.argv = ["-c", *args]
    exec(compile(source, "<as_user>", "exec"), {"__name__": "__main__"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
