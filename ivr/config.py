"""Moved to blocklist.settings (settings) and blocklist.parse (parse_duration); this name stays only until
the simulator's own import moves with it."""

from blocklist.parse import parse_duration as parse_duration
from blocklist.settings import SETTINGS as SETTINGS
from blocklist.settings import Settings as Settings
