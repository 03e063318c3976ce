"""Sales-side objects: User, Account (with the product's risk fields), Contact, Opportunity and their history."""

from __future__ import annotations

from simulator.org.schema.model import Field, SObject, id_field, picklist, reference, system_fields

__all__ = [
    "ACCOUNT",
    "ACCOUNT_HISTORY",
    "CONTACT",
    "OPPORTUNITY",
    "OPPORTUNITY_CONTACT_ROLE",
    "OPPORTUNITY_HISTORY",
    "OPPORTUNITY_STAGES",
    "USER",
]

OPPORTUNITY_STAGES: dict[str, tuple[int, bool, bool, str]] = {
    # stage -> (probability, is_closed, is_won, forecast category)
    "Prospecting": (10, False, False, "Pipeline"),
    "Qualification": (10, False, False, "Pipeline"),
    "Needs Analysis": (20, False, False, "Pipeline"),
    "Value Proposition": (50, False, False, "Pipeline"),
    "Id. Decision Makers": (60, False, False, "Pipeline"),
    "Perception Analysis": (70, False, False, "Pipeline"),
    "Proposal/Price Quote": (75, False, False, "Pipeline"),
    "Negotiation/Review": (90, False, False, "Commit"),
    "Closed Won": (100, True, True, "Closed"),
    "Closed Lost": (0, True, False, "Omitted"),
}
USER = SObject(
    "User",
    "User",
    (
        id_field(),
        Field("Username", "string", 80, nillable=False, unique=True, id_lookup=True),
        Field("FirstName", "string", 40),
        Field("LastName", "string", 80, nillable=False, required=True),
        Field("Name", "string", 121, createable=False, updateable=False, name_field=True, calculated=True),
        Field("Email", "email", 128, nillable=False, required=True),
        Field("Title", "string", 80),
        Field("Department", "string", 80),
        Field("IsActive", "boolean", nillable=False, defaulted_on_create=True, default=True),
        reference("ManagerId", "User", "Manager"),
        *system_fields(deletable=False),
    ),
    deletable=False,
)

ACCOUNT = SObject(
    "Account",
    "Account",
    (
        id_field(),
        system_fields()[0],
        Field("Name", "string", 255, nillable=False, required=True, name_field=True),
        picklist(
            "Type",
            (
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ),
        ),
        picklist(
            "Industry",
            (
                "Agriculture",
                "Banking",
                "Construction",
                "Education",
                "Energy",
                "Healthcare",
                "Manufacturing",
                "Retail",
                "Technology",
                "Transportation",
                "Utilities",
                "Other",
            ),
        ),
        Field("AnnualRevenue", "currency"),
        Field("NumberOfEmployees", "int"),
        Field("Phone", "phone", 40),
        Field("Website", "url", 255),
        Field("BillingCity", "string", 40),
        Field("BillingCountry", "string", 80),
        reference("ParentId", "Account", "Parent"),
        reference("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        *system_fields()[1:],
        # Customer-expectation inputs (optional in a real org; present in the simulated one).
        Field("Expected_Resolution_Days__c", "double", custom=True, label="Expected Resolution (days)"),
        Field(
            "Key_Account__c", "boolean", nillable=False, custom=True, defaulted_on_create=True, default=False
        ),
        # The product's own fields (salesforce/ metadata deploys them to a real org).
        picklist(
            "Risk_Level__c",
            ("Red", "Amber", "Green"),
            restricted=True,
            custom=True,
            label="Relationship Risk",
        ),
        Field("Risk_Score__c", "double", custom=True, label="Risk Score"),
        Field("Risk_Reasons__c", "textarea", 1000, custom=True, label="Risk Reasons"),
        picklist(
            "Risk_Trend__c", ("Rising", "Steady", "Falling"), restricted=True, custom=True, label="Risk Trend"
        ),
        Field("Risk_Computed_At__c", "datetime", custom=True, label="Risk Computed At"),
        Field("Risk_Model_Version__c", "string", 40, custom=True, label="Risk Model Version"),
    ),
)

CONTACT = SObject(
    "Contact",
    "Contact",
    (
        id_field(),
        system_fields()[0],
        reference("AccountId", "Account", "Account"),
        Field("FirstName", "string", 40),
        Field("LastName", "string", 80, nillable=False, required=True),
        Field("Name", "string", 121, createable=False, updateable=False, name_field=True, calculated=True),
        Field("Title", "string", 128),
        Field("Email", "email", 80, id_lookup=True),
        Field("Phone", "phone", 40),
        Field(
            "IsEmailBounced",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            default=False,
        ),
        Field("EmailBouncedDate", "datetime"),
        Field("EmailBouncedReason", "string", 255),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        reference("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        *system_fields()[1:],
        Field(
            "Left_Company__c",
            "boolean",
            nillable=False,
            custom=True,
            defaulted_on_create=True,
            default=False,
            label="Left the Company",
        ),
    ),
)

OPPORTUNITY = SObject(
    "Opportunity",
    "Opportunity",
    (
        id_field(),
        system_fields()[0],
        reference("AccountId", "Account", "Account"),
        Field("Name", "string", 120, nillable=False, required=True, name_field=True),
        picklist("StageName", tuple(OPPORTUNITY_STAGES), nillable=False, required=True),
        Field("Amount", "currency"),
        Field("Probability", "percent"),
        Field("CloseDate", "date", nillable=False, required=True),
        picklist("Type", ("New Business", "Existing Business", "Renewal")),
        Field(
            "IsClosed",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        Field(
            "IsWon", "boolean", nillable=False, createable=False, updateable=False, defaulted_on_create=True
        ),
        picklist("ForecastCategoryName", ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")),
        Field("LastStageChangeDate", "datetime", createable=False, updateable=False),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        reference("OwnerId", "User", "Owner", nillable=False, defaulted_on_create=True),
        *system_fields()[1:],
    ),
)

OPPORTUNITY_HISTORY = SObject(
    "OpportunityHistory",
    "Opportunity History",
    (
        id_field(),
        system_fields()[0],
        reference(
            "OpportunityId", "Opportunity", "Opportunity", nillable=False, createable=False, updateable=False
        ),
        picklist("StageName", tuple(OPPORTUNITY_STAGES), createable=False, updateable=False),
        Field("Amount", "currency", createable=False, updateable=False),
        Field("Probability", "percent", createable=False, updateable=False),
        Field("CloseDate", "date", createable=False, updateable=False),
        picklist(
            "ForecastCategory",
            ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed"),
            createable=False,
            updateable=False,
        ),
        Field("PrevAmount", "currency", createable=False, updateable=False),
        Field("PrevCloseDate", "date", createable=False, updateable=False),
        system_fields()[1],
        system_fields()[2],
        Field(
            "SystemModstamp",
            "datetime",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
    ),
    createable=False,
    updateable=False,
    deletable=False,
)

OPPORTUNITY_CONTACT_ROLE = SObject(
    "OpportunityContactRole",
    "Opportunity Contact Role",
    (
        id_field(),
        system_fields()[0],
        reference(
            "OpportunityId", "Opportunity", "Opportunity", nillable=False, required=True, updateable=False
        ),
        reference("ContactId", "Contact", "Contact", nillable=False, required=True),
        picklist(
            "Role",
            (
                "Business User",
                "Decision Maker",
                "Economic Buyer",
                "Economic Decision Maker",
                "Evaluator",
                "Executive Sponsor",
                "Influencer",
                "Technical Buyer",
                "Other",
            ),
        ),
        Field("IsPrimary", "boolean", nillable=False, defaulted_on_create=True, default=False),
        *system_fields()[1:],
    ),
)

ACCOUNT_HISTORY = SObject(
    "AccountHistory",
    "Account History",
    (
        id_field(),
        system_fields()[0],
        reference("AccountId", "Account", "Account", nillable=False, createable=False, updateable=False),
        picklist("Field", ("Owner", "Name", "Type", "created"), createable=False, updateable=False),
        Field("DataType", "string", 40, createable=False, updateable=False),
        Field("OldValue", "anyType", createable=False, updateable=False),
        Field("NewValue", "anyType", createable=False, updateable=False),
        *system_fields(
            deletable=False, modstamp=False
        ),  # AccountHistory has no SystemModstamp: extract on CreatedDate
    ),
    createable=False,
    updateable=False,
    deletable=False,
)
