"""Threat intelligence: list formats (``formats``), domain matching (``domains``), the IP table
(``iptable``), the index detectors query (``index``: ``IntelIndex``, ``Category``, ``ThreatHit``,
``load_list``, ``builtin_index``), the packaged data (``builtin``, ``data/``, rebuilt by ``build``),
refreshing it (``update``). ``iplists`` (``IpMatcher``) is the first, IP-only matcher: the pipeline now
uses ``IntelIndex`` for threat and trusted lists alike, and ``iplists`` is kept only until its tests
move to the index."""
