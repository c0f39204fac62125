"""Whether a process still runs, for cleaning up after dead ones."""
import os


def pid_alive(pid):
    """Whether process `pid` exists (one of another user counts).

    Used to tell the temporaries of a dead writer or build (safe to
    remove) from those of a live one.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
