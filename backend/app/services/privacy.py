"""What leaves the app for a model: contacts, and for analysis also identity, are cut out of free text,
and untrusted text cannot break out of the block that marks it as data.

The patterns are deliberately greedy: masking a salary range that looks like a phone number costs nothing,
sending a real phone number to a foreign API is a cross-border transfer of personal data.
"""

from __future__ import annotations

import re

CONTACT = "[контакт скрыт]"
NAME = "[имя скрыто]"
PERSONAL = "[личные данные скрыты]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+"
    r"|\b(?:t\.me|vk\.com|ok\.ru|linkedin\.com|github\.com|gitlab\.com|hh\.ru|habr\.com|wa\.me)/\S*"
)
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z][A-Za-z0-9_]{3,}")
# Russian numbers in any usual spelling: +7 900 123-45-67, 8 (900) 123 45 67, 89001234567, 900-123-45-67.
_RU_PHONE = re.compile(r"(?<![\w+])(?:\+?[78][\s-]?)?\(?\d{3}\)?[\s-]?\d{3}[\s-]?\d{2}[\s-]?\d{2}(?!\w)")
_INTL_PHONE = re.compile(r"(?<![\w+])\+\d[\d\s()-]{6,}\d")

# Lines a resume template uses for identity and contacts, e.g. "Дата рождения: 01.01.1990".
_PERSONAL_LINE = re.compile(
    r"(?im)^[ \t•*-]*(?:адрес|проживает|место жительства|город проживания|дата рождения|возраст|пол|"
    r"семейное положение|дети|гражданство|национальность|фото(?:графия)?|телефон|тел\.|моб\.|e-?mail|почта|"
    r"контакты|telegram|телеграм|skype|whatsapp|address|date of birth|birth ?date|age|gender|sex|"
    r"marital status|nationality|citizenship|phone|mobile|contacts?)\b[ \t]*[:：].*$"
)
# hh.ru-style header: "Мужчина, 32 года, родился 1 января 1990".
_GENDER_AGE = re.compile(r"(?i)\b(?:мужчина|женщина)\b(?:,?\s*\d{1,2}\s*(?:год|года|лет)\b)?")
_BORN = re.compile(r"(?i)\bродил(?:ся|ась)\b[^,;\n]*")


def _mask_url(match: re.Match[str]) -> str:
    url = match.group(0)
    kept = url.rstrip(".,;:!?)»\"'")  # punctuation after a link belongs to the sentence
    return CONTACT + url[len(kept) :]


def redact_contacts(text: str) -> str:
    """Remove emails, links, messenger handles and phone numbers."""
    text = _EMAIL.sub(CONTACT, text)
    text = _URL.sub(_mask_url, text)
    text = _HANDLE.sub(CONTACT, text)
    text = _RU_PHONE.sub(CONTACT, text)
    return _INTL_PHONE.sub(CONTACT, text)


def _name_pattern(full_name: str) -> re.Pattern[str] | None:
    parts = sorted({p for p in re.findall(r"\w+", full_name) if len(p) >= 2}, key=len, reverse=True)
    if not parts:
        return None
    # Russian names decline (Иванов → Иванова, Иванову): a longer word part also takes a short ending.
    alternatives = [re.escape(p) + (r"\w{0,3}" if len(p) >= 4 else "") for p in parts]
    return re.compile(r"(?i)(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def redact_identity(text: str, full_name: str) -> str:
    """Everything `redact_contacts` removes, plus the name, gender, age, birth date and address lines."""
    text = _PERSONAL_LINE.sub(PERSONAL, text)
    text = redact_contacts(text)
    text = _GENDER_AGE.sub(PERSONAL, text)
    text = _BORN.sub(PERSONAL, text)
    pattern = _name_pattern(full_name)
    return pattern.sub(NAME, text) if pattern else text


def neutralise_delimiters(text: str) -> str:
    """A resume cannot close its own <resume> block and pose as instructions after it."""
    return re.sub(r"(?i)<\s*/?\s*resume\s*>", "[resume]", text)
