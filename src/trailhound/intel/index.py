"""What the detectors and the pipeline import to query threat intelligence, in one place.

``IntelIndex``, ``Category``, ``ThreatHit``, ``ListInfo`` (``intel.intelindex``): the index and
its vocabulary. ``load_list``, ``ListLoad`` (``intel.formats``): reading a list in any format.
``builtin_index()`` (``intel.builtin``): the intelligence shipped in the package (``intel/data``),
loaded once, with any category refreshed by ``intel.update`` taken from the refreshed copy instead.

Only re-exports: the index itself lives in ``intel.intelindex`` so that ``intel.builtin`` can build
one without importing this module, and the intel modules import one another in one direction only.
"""

from __future__ import annotations

from trailhound.intel.builtin import builtin_index
from trailhound.intel.formats import ListLoad, load_list
from trailhound.intel.intelindex import Category, IntelIndex, ListInfo, ThreatHit

__all__ = ["Category", "ThreatHit", "IntelIndex", "ListInfo", "load_list", "builtin_index", "ListLoad"]
