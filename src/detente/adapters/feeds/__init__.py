"""Live feeds of position reports (Cursor-on-Target over TCP or TLS)."""
