"""Threat intelligence: list formats (``formats``), domain matching (``domains``), the IP table
(``iptable``), the index detectors query (``index``: ``IntelIndex``, ``Category``, ``ThreatHit``,
``load_list``, ``builtin_index``), the packaged data (``builtin``, ``data/``, rebuilt by ``build``),
refreshing it (``update``), and the trusted/threat IP matcher used by the pipeline (``iplists``)."""
