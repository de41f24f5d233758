"""The report settings (retention, masking, time zone, shifts), taken from the service's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from blocklist.parse import parse_shifts
from blocklist.settings import Settings


@dataclass(frozen=True)
class ReportSettings:
    """The report settings, read from the environment (the README's settings table lists them)."""

    retention_days: int = 90
    mask_numbers: bool = False
    timezone: str = "UTC"
    shifts: tuple[tuple[str, int, int], ...] = (("night", 22, 6), ("day", 6, 14), ("evening", 14, 22))
    data_dir: Path = Path("var")
    default_region: str = "US"
    # who the evidence pack's warning letter and traceback request are from, and where a caller appeals
    organisation_name: str = "our call centre"
    appeal_contact: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ReportSettings:
        """The report part of the service's Settings (IVR_EVENT_RETENTION_DAYS, IVR_REPORT_*, IVR_TIMEZONE...)."""

        s = Settings.from_env(environ=environ)
        return cls(
            retention_days=s.event_retention_days,
            mask_numbers=s.report_mask_numbers,
            timezone=s.timezone,
            shifts=parse_shifts(s.report_shifts),
            data_dir=Path(s.data_dir),
            default_region=s.default_region,
            organisation_name=s.organisation_name,
            appeal_contact=s.appeal_contact,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def shift_of(self, hour: int) -> str:
        """Name of the shift a local hour belongs to ('other' when no shift covers it)."""
        for name, start, end in self.shifts:
            if (start <= hour < end) if start < end else (hour >= start or hour < end):
                return name
        return "other"
