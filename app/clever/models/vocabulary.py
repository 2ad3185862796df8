"""The values Clever's definitions list for its enum-like fields (v3.0 and v3.1).

Fields stay plain strings; these sets only decide which values are logged as new. Clever
adds values over time and its docs and definitions disagree in places, so nothing here rejects.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(text: str) -> frozenset[str]:
    return frozenset(" ".join(part.split()) for part in text.split("|"))


YES_NO = frozenset({"Y", "N", ""})

# One list for students, sections and schools: the definitions give each a slightly different
# subset (the student one lacks Kindergarten), which is an omission, not a rule.
GRADES = _words(
    "InfantToddler Preschool PreKindergarten TransitionalKindergarten Kindergarten "
    "1 2 3 4 5 6 7 8 9 10 11 12 13 PostGraduate Ungraded Other"
) | {""}

GENDERS = frozenset({"M", "F", "X", ""})

RACES = _phrases(
    "Caucasian | Asian | Black or African American | American Indian | "
    "Hawaiian or Other Pacific Islander | Two or More Races | Unknown"
) | {""}

FRL_STATUSES = frozenset({"Free", "Reduced", "Paid", "Other", ""})

DISABILITY_TYPES = _phrases(
    """Autism | Deaf-blindness | Developmental delay | Emotional disturbance | Hearing impairment |
    Intellectual Disability | Multiple disabilities | Orthopedic impairment | Other |
    Other health impairment | Specific learning disability | Speech or language impairment |
    Traumatic brain injury | Visual impairment"""
)

# Lower case as in the definitions; Clever's docs print them upper case, so compare folded.
DISABILITY_CODES = _words("aut db dd emn hi id md oi other ohi sld sli tbi vi")

HOME_LANGUAGE_CODES = _words(
    """
    afr amh ara asm aym aze bak bam bel ben bho bod bos bul cat ceb ces chk ckb cmn cos cpp cym dan
    deu dgo div dsb ell eng est eus ewe fao fas fij fil fin fra fry gla gle glg grn guj hat hau haw
    heb hin hmn hrv hsb hun hye ibo ikt iku ilo ind isl ita jav jpn kan kar kat kaz khm kin kir knn
    kor kri kur lao lav lin lit ltz lug lus mah mai mal mar mkd mlg mlt mni mon mri msa mya nep nld
    nob nso nya ori orm other otq pan pol por prs pus que ron run rus sin slk slv smo sna snd som
    sot spa sqi srp sun swa swe tah tam tat tel tgk tgl tha tir ton tsn tso tuk tur twi uig ukr urd
    uzb vie xho yid yor yua yue zho zul
    """
)

HOME_LANGUAGES = _phrases(
    """
    Afrikaans | Albanian | Amharic | Arabic | Armenian | Assamese | Aymara | Azerbaijani | Bambara |
    Bashkir | Basque | Belarusian | Bengali | Bhojpuri | Bosnian | Bulgarian | Burmese |
    Cabo Verdean | Cantonese | Catalan | Cebuano | Chichewa | Chinese | Chuukese | Corsican |
    Croatian | Czech | Danish | Dari | Divehi | Dogri | Dutch | English | Estonian | Ewe | Faroese |
    Farsi | Fijian | Filipino | Finnish | French | Frisian | Galician | Georgian | German | Greek |
    Guarani | Gujarati | Haitian Creole | Hausa | Hawaiian | Hebrew | Hindi | Hmong | Hungarian |
    Icelandic | Igbo | Ilocano | Indonesian | Inuinnaqtun | Inuktitut | Irish | Italian | Japanese |
    Javanese | Kannada | Karen | Kazakh | Khmer | Kinyarwanda | Kirundi | Konkani | Korean | Krio |
    Kurdish (Kurmanji) | Kurdish (Sorani) | Kyrgyz | Laotian | Latvian | Lingala | Lithuanian |
    Lower Sorbian | Luganda | Luxembourgish | Macedonian | Maithili | Malagasy | Malay | Malayalam |
    Maltese | Mandarin | Manipuri | Maori | Marathi | Marshallese | Mizo | Mongolian | Nepali |
    Northern Sotho | Norwegian | Odia | Oromo | Other | Pashto | Polish | Portuguese | Punjabi |
    Quechua | Queretaro Otomi | Romanian | Russian | Samoan | Scots Gaelic | Serbian | Sesotho |
    Setswana | Shona | Sindhi | Sinhala | Slovak | Slovenian | Somali | Spanish | Sundanese |
    Swahili | Swedish | Tagalog | Tahitian | Tajik | Tamil | Tatar | Telugu | Thai | Tibetan |
    Tigrinya | Tongan | Tsonga | Turkish | Turkmen | Twi | Ukrainian | Upper Sorbian | Urdu | Uyghur |
    Uzbek | Vietnamese | Welsh | Xhosa | Yiddish | Yoruba | Yucatec Maya | Zulu
    """
)

STAFF_ROLES = frozenset({"SchoolTechLead", "PortalOnly"})

PHONE_TYPES = frozenset({"Cell", "Home", "Work", "Other", ""})

RELATIONSHIPS = _phrases("Parent | Grandparent | Self | Aunt/Uncle | Sibling | Other") | {""}

RELATIONSHIP_TYPES = _phrases("Parent/Guardian | Emergency | Primary | Secondary | Family | Other") | {""}

SUBJECTS = _phrases(
    """english/language arts | math | science | social studies | language | homeroom/advisory |
    interventions/online learning | technology and engineering | PE and health | arts and music |
    other"""
) | {""}

RESOURCE_ROLES = frozenset({"teacher", "student"})

DISTRICT_STATES = frozenset({"running", "pending", "error", "paused", "success", ""})

LMS_STATES = frozenset(
    {
        "initial_sync_processing",
        "pending_authorization",
        "matching_in_progress",
        "error",
        "disconnected",
        "success",
        "",
    }
)

LMS_TYPES = frozenset({"canvas", "schoology", "google_classroom", ""})

EVENT_RECORD_TYPES = _words("courses districts resources schools sections terms users")

EVENT_ACTIONS = _words("created updated deleted")
