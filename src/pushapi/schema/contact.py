"""The ContactInfo object of `/v2/contactinfo` and everything nested in it (SPEC 4.1)."""

from collections.abc import Iterator
from decimal import Decimal

from pushapi.schema.fields import Field, Need, ObjectSchema, Record, Rule, dates_in_order
from pushapi.schema.values import LONG_TEXT_MAX_LENGTH, Kind

ID, STR, INT, BOOL, DEC, DT = (
    Kind.ID,
    Kind.STRING,
    Kind.INT,
    Kind.BOOL,
    Kind.DECIMAL,
    Kind.DATETIME,
)
REQ = Need.REQUIRED


def _names_required(details: Record) -> Iterator[tuple[str, str]]:
    """SPEC 4.1: an individual needs FirstName or LastName, an organization OrganizationName."""
    if details["IsDeleted"] is True:
        return
    if details["IsOrganization"] is True:
        if details["OrganizationName"] is None:
            yield "OrganizationName", "required when IsOrganization is true"
    elif details["FirstName"] is None and details["LastName"] is None:
        yield "FirstName", "FirstName or LastName is required when IsOrganization is false"


CONTACT_DETAILS = ObjectSchema(
    "ContactDetails",
    (
        Field("ContactId", ID, REQ, "Unique ID of the contact"),
        Field("Age", INT),
        Field("ContactType", STR, doc="Any high-level classification"),
        Field("Birthday", DT),
        Field("MemberSince", DT, doc="Date the contact's relationship with the customer started"),
        Field("MemberExpiresOn", DT, doc="Date the contact's relationship is scheduled to end"),
        Field("Designation", STR),
        Field("PrimaryEmailAddress", STR),
        Field("Prefix", STR),
        Field("FirstName", STR, doc="If IsOrganization is false, this or LastName is required"),
        Field("MiddleName", STR),
        Field("LastName", STR, doc="If IsOrganization is false, this or FirstName is required"),
        Field("InformalName", STR),
        Field("Gender", STR),
        Field("Ethnicity", STR),
        Field("Suffix", STR),
        Field("OrganizationName", STR, doc="Required when IsOrganization is true"),
        Field("Title", STR),
        Field("ParentContactId", ID, doc="ContactId of an individual's parent organization"),
        Field("PrimaryContactContactId", ID, doc="ContactId of an organization's primary contact"),
        Field("ExcludeFromDirectory", BOOL),
        Field("DoNotEmail", BOOL),
        Field("IsMember", BOOL, doc="Whether the contact is a member"),
        Field("IsOrganization", BOOL, doc="false (default): an individual; true: an organization"),
        Field("AlternativeContactId", STR, doc="Another identifier; uniqueness is not enforced"),
        Field("Bio", STR, doc="HTML supported", max_length=LONG_TEXT_MAX_LENGTH),
        Field("WebsiteURL", STR),
        Field("ProfileImageURL", STR),
        Field("FacebookURL", STR),
        Field("TwitterURL", STR),
        Field("LinkedinURL", STR),
        Field("BloggerURL", STR),
        Field("OtherSocialURL", STR),
        Field("IsDeleted", BOOL, doc="Soft delete; when true only ContactId is required"),
    ),
    doc="The contact's own fields",
    rules=(
        Rule(
            ("IsDeleted", "IsOrganization", "OrganizationName", "FirstName", "LastName"),
            _names_required,
        ),
    ),
    deletion_field="IsDeleted",
)

CONTACT_GROUP = ObjectSchema(
    "ContactGroup",
    (
        Field("InitialJoinDate", DT, doc="Date on which the contact joined this group"),
        Field("BeginDate", DT, doc="Start of this term; null means active since ever"),
        Field("EndDate", DT, doc="End of this term; null means open-ended"),
        Field("GroupId", ID, REQ, "Unique ID of the group"),
        Field("GroupName", STR, doc="Human-readable name; kept on the group, last pushed wins"),
        Field("GroupType", STR, doc="Committee, Membership, Event, ...; decides the group's Kind"),
        Field("GroupSubType", STR, doc="A second categorisation"),
        Field("Role", STR, doc="The contact's role in the group; with GroupId it identifies"),
    ),
    doc="A membership of the contact in a community or security group",
    rules=(dates_in_order("BeginDate", "EndDate"),),
)

CONTACT_ADDRESS = ObjectSchema(
    "ContactAddress",
    (
        Field("AddressName", STR),
        Field("AddressLine1", STR),
        Field("AddressLine2", STR),
        Field("AddressLine3", STR),
        Field("City", STR),
        Field("StateProvince", STR),
        Field("PostalCode", STR),
        Field("CountryCode", STR),
        Field("AddressType", STR),
        Field("Latitude", DEC, minimum=Decimal(-90), maximum=Decimal(90)),
        Field("Longitude", DEC, minimum=Decimal(-180), maximum=Decimal(180)),
        Field("DoNotPublish", BOOL),
        Field("IsBill", BOOL),
        Field("IsShip", BOOL),
        Field("IsMail", BOOL),
        Field("IsPrimary", BOOL),
    ),
    doc="One postal address of the contact",
)

CONTACT_PHONE = ObjectSchema(
    "ContactPhone",
    (
        Field("FormattedNumber", STR),
        Field("PhoneType", STR),
        Field("IsPreferred", BOOL),
        Field("IsSmsPreferred", BOOL, doc="Preferred for SMS communications"),
        Field("DoNotPublish", BOOL),
    ),
    doc="One phone number of the contact",
)

CONTACT_EMAIL = ObjectSchema(
    "ContactEmail",
    (
        Field("EmailAddress", STR, REQ),
        Field("EmailType", STR),
        Field("IsPreferred", BOOL),
        Field("DoNotPublish", BOOL),
    ),
    doc="One e-mail address of the contact",
)

CONTACT_DEMOGRAPHIC = ObjectSchema(
    "ContactDemographic",
    (
        Field("DemographicName", STR, REQ, "Several entries with one name: a multi-valued field"),
        Field("DemographicValue", STR),
    ),
    doc="An enhanced or custom demographic value",
)

CONTACT_EDUCATION = ObjectSchema(
    "ContactEducation",
    (
        Field("InstitutionName", STR, REQ),
        Field("Degree", STR),
        Field("FieldOfStudy", STR),
        Field("StartDate", DT),
        Field("EndDate", DT),
        Field("GraduationDate", DT),
    ),
    doc="One entry of the contact's education",
    rules=(dates_in_order("StartDate", "EndDate"),),
)

CONTACT_JOB = ObjectSchema(
    "ContactJobHistory",
    (
        Field("CompanyName", STR, REQ),
        Field("Title", STR),
        Field("StartDate", DT),
        Field("EndDate", DT),
        Field("IsCurrent", BOOL),
    ),
    doc="One position in the contact's job history",
    rules=(dates_in_order("StartDate", "EndDate"),),
)

CONTACT_ORDER = ObjectSchema(
    "ContactProductOrder",
    (
        Field("OrderId", ID, REQ),
        Field("ProductId", ID, REQ, "A ProductId not known yet is a warning"),
        Field("OrderDate", DT),
        Field("Quantity", INT, minimum=Decimal(0)),
        Field("TotalAmount", DEC),
        Field("Status", STR),
    ),
    doc="A product the contact ordered",
)

# SPEC 4.1: collections that community-essentials does not store.
NOT_ON_ESSENTIALS = ("Demographics", "Education", "JobHistory", "Orders")

CONTACT_INFO = ObjectSchema(
    "ContactInfo",
    (
        Field("ContactDetails", Kind.OBJECT, REQ, item=CONTACT_DETAILS),
        Field("Groups", Kind.OBJECT_LIST, item=CONTACT_GROUP),
        Field("Demographics", Kind.OBJECT_LIST, item=CONTACT_DEMOGRAPHIC),
        Field("Education", Kind.OBJECT_LIST, item=CONTACT_EDUCATION),
        Field("JobHistory", Kind.OBJECT_LIST, item=CONTACT_JOB),
        Field("Addresses", Kind.OBJECT_LIST, item=CONTACT_ADDRESS),
        Field("PhoneNumbers", Kind.OBJECT_LIST, item=CONTACT_PHONE),
        Field("EmailAddresses", Kind.OBJECT_LIST, item=CONTACT_EMAIL),
        Field("Orders", Kind.OBJECT_LIST, item=CONTACT_ORDER),
    ),
    doc="Everything about one contact; each push replaces the whole stored contact",
)

# SPEC 4.1: the group's own attributes live on the group, not on the membership.
GROUP_ATTRIBUTES = ("GroupName", "GroupType", "GroupSubType")
# SPEC 4.1: a membership is identified by (GroupId, Role); a later entry replaces an earlier one.
MEMBERSHIP_KEY = ("GroupId", "Role")
# SPEC 4.1: ids of other contacts in ContactDetails (an id not known is a warning).
CONTACT_REFERENCES = ("ParentContactId", "PrimaryContactContactId")
