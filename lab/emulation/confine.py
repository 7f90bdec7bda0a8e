"""Start one lab program with least privilege: a private /tmp, a filesystem view, then the lab user.

Run as a script (``python -I -S confine.py SPEC -- ARGV``), standard library only, inside the node's
namespace (``ip netns exec NS`` has already put it in a mount namespace of its own; it makes another, so
nothing it mounts is ever seen outside this program and its children). In order:

1. /tmp is the node's own directory for this run (bind-mounted): processes of one node share it, other nodes
   and the host do not see it;
2. the directories the program needs (the interpreter, the lab package, the lab file's directory: read-only;
   the run's trace and files directories: writable) stay reachable at their own paths: a directory that the
   user may not search (a 0700 home, a private pytest directory under /tmp) is covered, in this view only,
   by an empty tmpfs (or the private /tmp) in which just those directories are bind-mounted again, so the
   program sees them and nothing else of what the covered directory held;
3. it changes to the working directory and, unless a tracer does it (``strace -u``), drops to the user:
   supplementary groups cleared, gid and uid set, no_new_privs (no setuid binary gives root back);
4. it checks that the user can write where it must, and says so in one line (exit 126) if not; then it
   execs. (A lab file directory that the user may not read is refused by ``lab run`` before anything
   starts: ``lab.emulation.privilege.unreadable``.)

SPEC (JSON): {"tmp": DIR, "user": [name, uid, gid] | null, "drop": bool, "cwd": DIR | null,
"readable": [DIR...], "writable": [DIR...], "mounted": [DIR...]}: "writable" directories were handed to the
user, "mounted" ones stay root's and are only kept reachable, writable, for a tracer that stays root
(strace writes its log there, out of the program's reach). A step that declared ``root`` has "user": null:
it gets the private /tmp and runs as root.
"""

import ctypes
import json
import os
import stat
import sys
import warnings  # noqa: F401  (os.execvp imports it lazily: after the drop it may be unreadable)

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MS_SLAVE = 1 << 19
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enc(text):
    return text.encode() if text is not None else None


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data)),
           f"mount {target}")


def searchable(path, uid, gid, read=False):
    """Whether uid (primary group gid, no other groups) may search directory ``path`` (and, with ``read``,
    list it), by mode bits only."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_uid == uid:
        want = stat.S_IXUSR | (stat.S_IRUSR if read else 0)
    elif st.st_gid == gid:
        want = stat.S_IXGRP | (stat.S_IRGRP if read else 0)
    else:
        want = stat.S_IXOTH | (stat.S_IROTH if read else 0)
    return st.st_mode & want == want


def under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def blocking_ancestor(path, uid, gid):
    """The topmost directory above ``path`` that the user may not search, or None."""
    parts = path.strip("/").split("/")
    for k in range(1, len(parts)):
        anc = "/" + "/".join(parts[:k])
        if not searchable(anc, uid, gid):
            return anc
    return None


def build_view(spec):
    """Private /tmp and the covers that keep the needed directories reachable (see the module doc)."""
    user = spec.get("user")
    needed = [(os.path.realpath(p), False) for p in spec.get("readable", [])]
    needed += [(os.path.realpath(p), True) for p in (*spec.get("writable", []), *spec.get("mounted", []))]
    needed = sorted({(p, w) for p, w in needed if os.path.isdir(p)}, key=lambda x: (len(x[0]), x[1]))
    if user:  # a readable directory the user cannot read is of no use to it, and re-mounting it would
        # block the way to a writable directory inside it (a lab file next to the run's output)
        needed = [(p, w) for p, w in needed if w or searchable(p, user[1], user[2], read=True)]
    covers = ["/tmp"]
    if user:
        for path, _w in needed:
            anc = blocking_ancestor(path, user[1], user[2])
            if anc and not any(under(anc, c) for c in covers):
                covers = [c for c in covers if not under(c, anc)] + [anc]
    # every source is opened before anything is covered: afterwards its path may lead elsewhere
    fds = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path, _w in needed}
    tmp_fd = os.open(spec["tmp"], os.O_PATH | os.O_CLOEXEC)
    for cover in sorted(covers, key=len):
        if cover == "/tmp":
            mount(f"/proc/self/fd/{tmp_fd}", "/tmp", None, MS_BIND)
        else:
            mount("tmpfs", cover, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    for path, writable in needed:
        if not any(under(path, c) for c in covers):
            continue
        os.makedirs(path, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND)
        if not writable:
            mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for fd in (*fds.values(), tmp_fd):
        os.close(fd)
    return needed


def drop(user):
    _name, uid, gid = user
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def main():
    spec = json.loads(sys.argv[1])
    if sys.argv[2:3] != ["--"] or len(sys.argv) < 4:
        sys.stderr.write("usage: confine.py SPEC -- ARGV\n")
        return 2
    argv = sys.argv[3:]
    try:
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        mount(None, "/", None, MS_REC | MS_SLAVE)
        needed = build_view(spec)
        if spec.get("cwd"):
            os.chdir(spec["cwd"])
        user = spec.get("user")
        if user and spec.get("drop", True):
            drop(user)
    except OSError as err:
        sys.stderr.write(f"lab: cannot confine the program: {err.strerror or err}\n")
        return 126
    if user and spec.get("drop", True):
        # the writable directories were handed to the user: if it still cannot write them, nothing it does
        # would be recorded. (A private readable directory is refused before the run, where it matters.)
        handed = {os.path.realpath(p) for p in spec.get("writable", [])}
        for path, _writable in needed:
            if path in handed and not os.access(path, os.R_OK | os.W_OK | os.X_OK):
                sys.stderr.write(f"lab: user {user[0]} cannot write {path}\n")
                return 126
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        sys.stderr.write(f"lab: {argv[0]}: {err.strerror}\n")
        return 127


if __name__ == "__main__":
    sys.exit(main())
