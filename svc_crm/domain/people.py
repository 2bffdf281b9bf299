"""Rules for the people-shaped records (contacts and leads): what a valid one looks
like, how e-mails and phones are compared, and the words search matches.

Duplicates are found by a normalized key, never by the raw text: "Ada@Example.com "
and "ada@example.com" are one address; "+44 20 7946 0018" and "+44-20-79460018"
are one phone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mesh.errors import FieldViolation, InvalidArgument
from mesh.values import check_email, normalize_email

NAME_MAX = 100
TITLE_MAX = 100
OWNER_MAX = 64
PHONE_MAX = 40
TAG_MAX = 40
TAGS_MAX = 20
PHONE_DIGITS_MIN = 5  # short internal extensions are still phones
PHONE_DIGITS_MAX = 15  # E.164
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+(\s*(x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)
_TAG = re.compile(r"^[\w][\w .:/-]*$")
# Compiled once: these run for every row of an import.
_EXTENSION = re.compile(r"(?i)\s*(x|ext\.?)\s*\d")
_NON_DIGITS = re.compile(r"\D+")
_SEPARATORS = re.compile(r"[\s,;]+")
# C0 and C1 control characters but tab and newline (unicodedata category Cc).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def email_key(email: str) -> str:
    """What two e-mail addresses are compared by; "" for none."""
    return normalize_email(email)


def phone_key(phone: str) -> str:
    """Digits of the number without an extension, "+" kept when given: comparable
    whatever the punctuation. "" for none."""
    main = _EXTENSION.split(phone, maxsplit=1)[0]
    digits = _NON_DIGITS.sub("", main)
    if not digits:
        return ""
    return ("+" if main.strip().startswith("+") else "") + digits


def check_email_field(email: str, field: str) -> list[FieldViolation]:
    """An optional e-mail: empty is fine, anything else must look like an address."""
    if not email.strip():
        return []
    return check_email(normalize_email(email), field)


def check_phone(phone: str, field: str) -> list[FieldViolation]:
    if not phone.strip():
        return []
    if len(phone) > PHONE_MAX:
        return [FieldViolation(field, f"at most {PHONE_MAX} characters")]
    if not _PHONE_CHARS.fullmatch(phone.strip()):
        return [FieldViolation(field, "digits, spaces, ( ) . - and a leading + only")]
    digits = len(phone_key(phone).lstrip("+"))
    if not PHONE_DIGITS_MIN <= digits <= PHONE_DIGITS_MAX:
        return [
            FieldViolation(
                field, f"must have {PHONE_DIGITS_MIN} to {PHONE_DIGITS_MAX} digits, not {digits}"
            )
        ]
    return []


def check_text(
    value: str, field: str, limit: int, *, required: bool = False
) -> list[FieldViolation]:
    if required and not value.strip():
        return [FieldViolation(field, "is required")]
    if len(value) > limit:
        return [FieldViolation(field, f"at most {limit} characters")]
    if _CONTROL.search(value):
        return [FieldViolation(field, "must not contain control characters")]
    return []


def given_reason(reason: str, limit: int, field: str = "reason") -> str:
    """The trimmed reason (why a lead was disqualified, a deal lost), or
    INVALID_ARGUMENT: it is required, short, and plain text."""
    reason = reason.strip()
    problems = check_text(reason, field, limit, required=True)
    if problems:
        raise InvalidArgument(problems)
    return reason


def check_owner(owner_id: str, field: str) -> list[FieldViolation]:
    """A record's owner: a user id as svc_auth gives them (empty means the caller)."""
    return check_text(owner_id, field, OWNER_MAX)


def check_tags(tags: Iterable[str], field: str = "tags") -> list[FieldViolation]:
    if not tags:
        return []
    found: list[FieldViolation] = []
    tags = list(tags)
    if len(tags) > TAGS_MAX:
        found.append(FieldViolation(field, f"at most {TAGS_MAX} tags"))
    for i, tag in enumerate(tags):
        tag = tag.strip()  # as clean_tags keeps it
        if not tag or len(tag) > TAG_MAX or not _TAG.fullmatch(tag):
            found.append(
                FieldViolation(f"{field}[{i}]", f"1 to {TAG_MAX} letters, digits, spaces or .:/-_")
            )
    return found


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, lower-cased, each once, in the order given."""
    if not tags:  # most records: skip building the generator (imports run this per row)
        return []
    return list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))


@dataclass(frozen=True)
class Person:
    """The fields a contact or a lead is checked by."""

    first_name: str
    last_name: str
    email: str
    phone: str
    title: str = ""


def check_person(person: Person, prefix: str = "") -> list[FieldViolation]:
    """A person needs a name (first or last) and at most well-formed e-mail and phone."""
    found: list[FieldViolation] = []
    if not person.first_name.strip() and not person.last_name.strip():
        found.append(FieldViolation(f"{prefix}last_name", "a first or last name is required"))
    found += check_text(person.first_name, f"{prefix}first_name", NAME_MAX)
    found += check_text(person.last_name, f"{prefix}last_name", NAME_MAX)
    found += check_text(person.title, f"{prefix}title", TITLE_MAX)
    found += check_email_field(person.email, f"{prefix}email")
    found += check_phone(person.phone, f"{prefix}phone")
    return found


def full_name(first: str, last: str) -> str:
    return " ".join(p for p in (first.strip(), last.strip()) if p)


def fold(text: str) -> str:
    """Lower case without accents: what search compares ("Zoë" finds "zoe")."""
    if text.isascii():  # most names and every e-mail: nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_NOT_IN_WORD = re.compile(r"[^\w@.+-]")


def _words(text: str) -> list[str]:
    """Folded words, each with what a word keeps (letters, digits and _ @ . + -) and
    without a leading "+". Records and queries are cut the same way, so "O'Brien" is
    found by "o'brien" and by "obr", and "+44 20 7946 0018" by "+44" (phones are
    stored by their digits)."""
    found: list[str] = []
    for raw in _SEPARATORS.split(fold(text)):
        word = _NOT_IN_WORD.sub("", raw).lstrip("+")
        if word:
            found.append(word)
    return found


def search_words(*texts: str) -> str:
    """The searchable words of a record, space-led so that `LIKE '% word%'` finds a
    word by its start: folded names, the e-mail whole and its domain, the phone's
    digits whole and in its written groups."""
    words: list[str] = []
    for text in texts:
        words += _words(text)
    return " " + " ".join(dict.fromkeys(words)) if words else ""


def email_words(email: str) -> str:
    key = email_key(email)
    if not key:
        return ""
    return f"{key} {key.partition('@')[2]}"


def phone_words(phone: str, key: str | None = None) -> str:
    """`key`: the phone's key when the caller has it already."""
    key = (phone_key(phone) if key is None else key).lstrip("+")
    if not key:
        return ""
    groups = [g for g in _NON_DIGITS.split(phone) if g]
    return " ".join([key, *groups])


def query_words(query: str) -> list[str]:
    """The words of a search query, cut as a record's are; punctuation inside words
    is kept so that e-mail addresses and phone numbers can be searched whole."""
    return _words(query)
