"""The Product object of `/v2/product`: full replace, soft delete (SPEC 4.4)."""

from decimal import Decimal

from pushapi.schema.fields import Field, Need, ObjectSchema
from pushapi.schema.values import LONG_TEXT_MAX_LENGTH, Kind

PRODUCT = ObjectSchema(
    "Product",
    (
        Field("ProductId", Kind.ID, Need.REQUIRED, "Unique ID of the product"),
        Field("ProductName", Kind.STRING, Need.REQUIRED_UNLESS_DELETED),
        Field("ProductCode", Kind.STRING),
        Field("ProductType", Kind.STRING),
        Field("Description", Kind.STRING, doc="HTML supported", max_length=LONG_TEXT_MAX_LENGTH),
        Field("Price", Kind.DECIMAL, doc="Kept exactly as pushed", minimum=Decimal(0)),
        Field("IsActive", Kind.BOOL),
        Field("IsDeleted", Kind.BOOL, doc="Soft delete; when true only ProductId is required"),
    ),
    doc="A product that contacts order; each push replaces the whole stored product",
    deletion_field="IsDeleted",
)
