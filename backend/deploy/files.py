"""Files other users must (or must not) read: ownership, modes, and reachable folders."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path


class DeployError(RuntimeError):
    """A deployment step cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Owner:
    """A system user and its primary group, as numbers."""

    name: str
    uid: int
    gid: int

    @classmethod
    def of(cls, name: str) -> Owner:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise DeployError(
                f"no system user {name!r}: install its package first (apt-get install "
                f"mosquitto creates the user mosquitto) or give another with --user"
            ) from None
        return cls(name, entry.pw_uid, entry.pw_gid)

    @property
    def group(self) -> str:
        return grp.getgrgid(self.gid).gr_name


ROOT = Owner("root", 0, 0)


def place(path: Path, owner: Owner, group_of: Owner, mode: int) -> None:
    """Give ``path`` the owner ``owner``, the group of ``group_of`` and ``mode``."""
    if os.geteuid() == 0:
        os.chown(path, owner.uid, group_of.gid)
    os.chmod(path, mode)


def make_dir(path: Path, owner: Owner, group_of: Owner, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    place(path, owner, group_of, mode)
    return path


def copy_file(src: Path, dst: Path, owner: Owner, group_of: Owner, mode: int) -> Path:
    if not src.is_file():
        raise DeployError(f"{src} does not exist or is not a file")
    shutil.copyfile(src, dst)
    place(dst, owner, group_of, mode)
    return dst


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` atomically to a file created with ``mode`` (never readable by others,
    not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def unreachable_parent(path: Path, user: Owner) -> Path | None:
    """The first folder above ``path`` that ``user`` cannot pass through (no search
    permission for it), or None."""
    groups = {g.gr_gid for g in grp.getgrall() if user.name in g.gr_mem} | {user.gid}
    for folder in reversed(path.resolve().parents):
        st = folder.stat()
        if user.uid == 0:
            continue
        if st.st_uid == user.uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            return folder
    return None
