"""Threat intelligence: list formats (``formats``), domain matching (``domains``), the IP table
(``iptable``), the index (``intelindex``: ``IntelIndex``, ``Category``, ``ThreatHit``), the packaged
data (``builtin``: ``builtin_index``; ``data/``, rebuilt by ``build``), where refreshed copies live
(``paths``), refreshing them (``update``). ``index`` re-exports what detectors query.

Imports run one way: formats, domains, iptable <- intelindex <- builtin (+ paths) <- update;
index re-exports intelindex, formats and builtin; build uses formats and intelindex."""
