"""Threat intelligence: list formats (``formats``), domain matching (``domains``), the IP table
(``iptable``), the index (``index``: ``IntelIndex``, ``Category``, ``ThreatHit``), the packaged
data (``builtin``: ``builtin_index``; ``data/``, rebuilt by ``build``), where refreshed copies live
(``paths``), refreshing them (``update``), and the lookup detectors query (``combined``).

Imports run one way: formats, domains, iptable <- index <- builtin (+ paths) <- update;
build uses formats and index."""
