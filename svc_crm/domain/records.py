"""The kinds of CRM record that custom fields, activities and timelines attach to."""

from __future__ import annotations

from enum import StrEnum


class RecordType(StrEnum):
    CONTACT = "contact"
    COMPANY = "company"
    LEAD = "lead"
    OPPORTUNITY = "opportunity"
