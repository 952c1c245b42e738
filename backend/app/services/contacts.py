"""Contacts found in a resume locally, so they never have to be sent to a model.

Phones with Google's libphonenumber (`phonenumbers`, Russia as the default region), emails checked with
`email-validator`, links by pattern. `contact_free` removes every match and then applies the generic redaction
of `privacy.redact_contacts` on top, so a number that libphonenumber does not accept is still masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from app.services.privacy import CONTACT, redact_contacts

MAX_EACH = 10
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)[^\s<>\"']+"
    r"|\b(?:t\.me|vk\.com|ok\.ru|linkedin\.com|github\.com|gitlab\.com|hh\.ru|habr\.com|wa\.me)/[^\s<>\"']*"
)
_TRAILING = ".,;:!?)»\"'"


@dataclass
class Contacts:
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    """International format, e.g. +7 900 123-45-67."""
    links: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    """Every matched piece of the text as written, for removing it."""

    def as_dict(self) -> dict[str, list[str]]:
        return {"emails": self.emails, "phones": self.phones, "links": self.links}


def _add(values: list[str], value: str) -> None:
    if value not in values and len(values) < MAX_EACH:
        values.append(value)


def find(text: str) -> Contacts:
    found = Contacts()
    for match in _EMAIL.finditer(text):
        try:
            email = validate_email(match.group(0), check_deliverability=False).normalized
        except EmailNotValidError:
            continue
        _add(found.emails, email.lower())
        found.raw.append(match.group(0))
    for number in phonenumbers.PhoneNumberMatcher(text, "RU", leniency=phonenumbers.Leniency.VALID):
        formatted = phonenumbers.format_number(number.number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        _add(found.phones, formatted)
        found.raw.append(number.raw_string)
    for match in _LINK.finditer(text):
        link = match.group(0).rstrip(_TRAILING)
        if "@" in link:
            continue
        _add(found.links, link)
        found.raw.append(link)
    return found


def contact_free(text: str, found: Contacts | None = None) -> str:
    """The text with every contact replaced by a placeholder."""
    found = found or find(text)
    for raw in sorted(set(found.raw), key=len, reverse=True):
        text = text.replace(raw, CONTACT)
    return redact_contacts(text)
