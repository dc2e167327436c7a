"""nsverify engine: stdlib-only Python (>= 3.8) that runs on target hosts.

Rooms: catalog (the eight namespace types as data), kernel (release parsing,
config), syscalls (ctypes wrappers), probe (run code in a forked child inside
new or joined namespaces). Everything else builds on these.
"""
