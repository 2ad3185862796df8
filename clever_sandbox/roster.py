"""Who is linked to what: the relations the Data API's sub-resources answer.

A `Roster` is derived from the store's records and built once per change of them, so a
request for a user's sections or resources is a few dictionary look-ups even in a large
district. Every list it returns is in id order, ready for paging.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

Record = dict[str, Any]

ROLE_NAMES = ("district_admin", "staff", "teacher", "student", "contact")
_NONE: tuple[str, ...] = ()


def section_teacher_ids(section: Mapping[str, Any]) -> list[str]:
    """The section's teachers: `teachers`, and the primary `teacher` should it be missing there."""
    ids = list(section.get("teachers") or [])
    lead = section.get("teacher")
    if lead and lead not in ids:
        ids.insert(0, lead)
    return ids


def role_school_ids(role: Mapping[str, Any], primary: bool) -> list[str]:
    """A role's schools: its `schools`, or with `primary` only its `school`."""
    if primary:
        school = role.get("school")
        return [school] if school else []
    ids = list(role.get("schools") or [])
    school = role.get("school")
    if school and school not in ids:
        ids.append(school)
    return ids


class Roster:
    def __init__(
        self,
        records: Mapping[str, Mapping[str, Record]],
        resource_sections: Mapping[str, list[str]],
        resource_users: Mapping[str, list[str]],
    ) -> None:
        self._records = records
        # Records are inserted in id order and never re-keyed, so insertion order is id order.
        self.ordered: dict[str, list[Record]] = {
            kind: list(by_id.values()) for kind, by_id in records.items()
        }
        self._resource_sections = resource_sections
        self._resource_users = resource_users
        self._teaching: defaultdict[str, list[str]] = defaultdict(list)
        self._enrolled: defaultdict[str, list[str]] = defaultdict(list)
        for section in self.ordered.get("sections", []):
            for teacher in section_teacher_ids(section):
                self._teaching[teacher].append(section["id"])
            for student in section.get("students") or []:
                self._enrolled[student].append(section["id"])
        self._section_resources: defaultdict[str, list[str]] = defaultdict(list)
        for resource_id, section_ids in resource_sections.items():
            for section_id in section_ids:
                self._section_resources[section_id].append(resource_id)
        self._direct_resources: defaultdict[str, list[str]] = defaultdict(list)
        for resource_id, user_ids in resource_users.items():
            for user_id in user_ids:
                self._direct_resources[user_id].append(resource_id)
        self._contacts_of: defaultdict[str, list[str]] = defaultdict(list)
        for user in self.ordered.get("users", []):
            contact = user["roles"].get("contact")
            for link in (contact or {}).get("student_relationships") or []:
                self._contacts_of[link.get("student")].append(user["id"])

    def _sorted(self, kind: str, ids: Iterable[str | None]) -> list[Record]:
        by_id = self._records.get(kind, {})
        return [by_id[i] for i in sorted({i for i in ids if i is not None and i in by_id})]

    def _users_with_role(self, ids: Iterable[str], role: str) -> list[Record]:
        return [user for user in self._sorted("users", ids) if role in user["roles"]]

    # users/{id}/...
    def sections_of_user(self, user: Mapping[str, Any]) -> list[Record]:
        user_id = user["id"]
        return self._sorted(
            "sections", [*self._teaching.get(user_id, _NONE), *self._enrolled.get(user_id, _NONE)]
        )

    def resources_of_user(self, user: Mapping[str, Any]) -> list[Record]:
        """Shared with the user directly, or through a section where the user's part is in `roles`."""
        resources = self._records.get("resources", {})
        user_id = user["id"]
        ids = list(self._direct_resources.get(user_id, _NONE))
        parts = (
            ("teacher", self._teaching.get(user_id, _NONE)),
            ("student", self._enrolled.get(user_id, _NONE)),
        )
        for part, section_ids in parts:
            for section_id in section_ids:
                for resource_id in self._section_resources.get(section_id, _NONE):
                    resource = resources.get(resource_id)
                    if resource is not None and part in resource.get("roles", []):
                        ids.append(resource_id)
        return self._sorted("resources", ids)

    def schools_of_user(self, user: Mapping[str, Any], *, primary: bool = False) -> list[Record]:
        ids: list[str] = []
        for name in ("student", "teacher", "staff"):
            role = user["roles"].get(name)
            if role is not None:
                ids += role_school_ids(role, primary)
        return self._sorted("schools", ids)

    def students_of_user(self, user: Mapping[str, Any]) -> list[Record]:
        """mystudents: a teacher's students in their sections, a contact's linked students."""
        sections = self._records.get("sections", {})
        ids: list[str] = []
        if "teacher" in user["roles"]:
            for section_id in self._teaching.get(user["id"], _NONE):
                ids += sections[section_id].get("students") or []
        contact = user["roles"].get("contact")
        if contact is not None:
            ids += [link.get("student") for link in contact.get("student_relationships") or []]
        return self._users_with_role(ids, "student")

    def teachers_of_user(self, user: Mapping[str, Any]) -> list[Record]:
        """myteachers: the teachers of a student's sections."""
        if "student" not in user["roles"]:
            return []
        sections = self._records.get("sections", {})
        ids = [t for s in self._enrolled.get(user["id"], _NONE) for t in section_teacher_ids(sections[s])]
        return self._users_with_role(ids, "teacher")

    def contacts_of_user(self, user: Mapping[str, Any]) -> list[Record]:
        """mycontacts: the contacts linked to a student."""
        if "student" not in user["roles"]:
            return []
        return self._users_with_role(self._contacts_of.get(user["id"], _NONE), "contact")

    # sections/{id}/...
    def users_of_section(self, section: Mapping[str, Any], *, role: str | None = None) -> list[Record]:
        users: list[Record] = []
        if role in (None, "teacher"):
            users += self._users_with_role(section_teacher_ids(section), "teacher")
        if role in (None, "student"):
            users += self._users_with_role(section.get("students") or [], "student")
        return _by_id(users)

    def resources_of_section(self, section: Mapping[str, Any]) -> list[Record]:
        return self._sorted("resources", self._section_resources.get(section["id"], _NONE))

    # resources/{id}/...
    def sections_of_resource(self, resource: Mapping[str, Any]) -> list[Record]:
        return self._sorted("sections", self._resource_sections.get(resource["id"], []))

    def courses_of_resource(self, resource: Mapping[str, Any]) -> list[Record]:
        return self._sorted("courses", [s.get("course") for s in self.sections_of_resource(resource)])

    def users_of_resource(self, resource: Mapping[str, Any], *, role: str | None = None) -> list[Record]:
        """Users holding the resource: directly, or through sections for the parts in its `roles`."""
        direct = [
            user
            for user in self._sorted("users", self._resource_users.get(resource["id"], []))
            if role is None or role in user["roles"]
        ]
        via: list[Record] = []
        parts = [
            part
            for part in ("teacher", "student")
            if role in (None, part) and part in resource.get("roles", [])
        ]
        for section in self.sections_of_resource(resource):
            for part in parts:
                via += self.users_of_section(section, role=part)
        return _by_id([*direct, *via])

    # schools, courses, terms
    def users_of_school(
        self, school: Mapping[str, Any], *, role: str | None = None, primary: bool = False
    ) -> list[Record]:
        names = [name for name in ("staff", "student", "teacher") if role in (None, name)]
        if primary and "staff" in names:
            names.remove("staff")  # staff have no primary school
        school_id = school["id"]
        return [
            user
            for user in self.ordered.get("users", [])
            if any(
                n in user["roles"] and school_id in role_school_ids(user["roles"][n], primary) for n in names
            )
        ]

    def _sections_where(self, key: str, value: str) -> list[Record]:
        return [s for s in self.ordered.get("sections", []) if s.get(key) == value]

    def sections_of_school(self, school: Mapping[str, Any]) -> list[Record]:
        return self._sections_where("school", school["id"])

    def terms_of_school(self, school: Mapping[str, Any]) -> list[Record]:
        return self._sorted("terms", [s.get("term_id") for s in self.sections_of_school(school)])

    def courses_of_school(self, school: Mapping[str, Any]) -> list[Record]:
        return self._sorted("courses", [s.get("course") for s in self.sections_of_school(school)])

    def sections_of_course(self, course: Mapping[str, Any]) -> list[Record]:
        return self._sections_where("course", course["id"])

    def schools_of_course(self, course: Mapping[str, Any]) -> list[Record]:
        return self._sorted("schools", [s.get("school") for s in self.sections_of_course(course)])

    def resources_of_course(self, course: Mapping[str, Any]) -> list[Record]:
        sections = self.sections_of_course(course)
        return self._sorted(
            "resources", [r for s in sections for r in self._section_resources.get(s["id"], _NONE)]
        )

    def sections_of_term(self, term: Mapping[str, Any]) -> list[Record]:
        return self._sections_where("term_id", term["id"])

    def schools_of_term(self, term: Mapping[str, Any]) -> list[Record]:
        return self._sorted("schools", [s.get("school") for s in self.sections_of_term(term)])


def _by_id(records: Iterable[Record]) -> list[Record]:
    """`records` without repeats, in id order."""
    return sorted({str(r["id"]): r for r in records}.values(), key=lambda r: str(r["id"]))
