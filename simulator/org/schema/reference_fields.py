"""The standard fields of the simulated objects, as data, in describe order (Salesforce Object Reference, API 59-62).

One line per field: `Name type length flags [to:Obj,Obj] [rel:Relationship] [of:Compound] [pick:a;b;c]`.
Flags: C createable, U updateable, N nillable, D defaulted on create, R restricted picklist, X calculated,
Q unique, I idLookup, M name field, `-` none. `of:` names the compound field a component belongs to (its
`compoundFieldName`); an `address` field is the compound itself (read-only, not stored).

Left out, because a standard org has them only with a feature enabled: Person Account fields, Data.com Clean
(`Jigsaw*` stays, as Salesforce keeps it), Einstein Activity Capture (`ActivityMetric*`), Field Service
(`OperatingHoursId`), Entitlement Management (Case `EntitlementId`, `SlaStartDate`, `IsStopped`, ...), State and
Country picklists (`*StateCode`, `*CountryCode`), portals (`IsPartner`, `IsCustomerPortal`), and the ~150
`UserPreferences*` / `UserPermissions*` flags of User. The simulator's own definitions (`sales.py`,
`service.py`) override a line of the same name: their picklists are the org's, their rules the ones it enforces.
"""

from __future__ import annotations

__all__ = ["REFERENCE"]

_GEO = "Address;NearAddress;Block;Street;ExtendedZip;Zip;Neighborhood;City;County;State;Unknown"
_CLEAN = "Matched;Different;Acknowledged;NotFound;Inactive;Pending;SelectMatch;Skipped"
_SOURCE = "Web;Phone Inquiry;Partner Referral;Purchased List;Other"


def _address(prefix: str, compound: str) -> str:
    return f"""
{prefix}Street textarea 255 CUN of:{compound}
{prefix}City string 40 CUN of:{compound}
{prefix}State string 80 CUN of:{compound}
{prefix}PostalCode string 20 CUN of:{compound}
{prefix}Country string 80 CUN of:{compound}
{prefix}Latitude double 0 CUN of:{compound}
{prefix}Longitude double 0 CUN of:{compound}
{prefix}GeocodeAccuracy picklist 40 CUNR of:{compound} pick:{_GEO}
{compound} address 0 N"""


_SYSTEM = """
CreatedDate datetime 0 D
CreatedById reference 18 D to:User rel:CreatedBy
LastModifiedDate datetime 0 D
LastModifiedById reference 18 D to:User rel:LastModifiedBy
SystemModstamp datetime 0 D"""

_SEEN = """
LastViewedDate datetime 0 N
LastReferencedDate datetime 0 N"""

_RECURRENCE = """
RecurrenceActivityId reference 18 N to:{obj} rel:RecurrenceActivity
IsRecurrence boolean 0 CD
RecurrenceEndDateOnly date 0 CUN
RecurrenceTimeZoneSidKey picklist 40 CUNR pick:America/Los_Angeles;America/New_York;Europe/London;Europe/Paris
RecurrenceType picklist 40 CUNR pick:RecursDaily;RecursEveryWeekday;RecursMonthly;RecursMonthlyNth;RecursWeekly;RecursYearly;RecursYearlyNth
RecurrenceInterval int 0 CUN
RecurrenceDayOfWeekMask int 0 CUN
RecurrenceDayOfMonth int 0 CUN
RecurrenceInstance picklist 40 CUNR pick:First;Second;Third;Fourth;Last
RecurrenceMonthOfYear picklist 40 CUNR pick:January;February;March;April;May;June;July;August;September;October;November;December"""

ACCOUNT = f"""
Id id 18 IM
IsDeleted boolean 0 D
MasterRecordId reference 18 N to:Account rel:MasterRecord
Name string 255 CUM
Type picklist 255 CUN pick:Prospect;Customer - Direct;Customer - Channel;Other
ParentId reference 18 CUN to:Account rel:Parent
{_address("Billing", "BillingAddress")}
{_address("Shipping", "ShippingAddress")}
Phone phone 40 CUN
Fax phone 40 CUN
AccountNumber string 40 CUN
Website url 255 CUN
PhotoUrl url 255 N
Sic string 20 CUN
Industry picklist 255 CUN pick:Agriculture;Banking;Technology;Other
AnnualRevenue currency 0 CUN
NumberOfEmployees int 0 CUN
Ownership picklist 255 CUN pick:Public;Private;Subsidiary;Other
TickerSymbol string 20 CUN
Description textarea 32000 CUN
Rating picklist 255 CUN pick:Hot;Warm;Cold
Site string 80 CUN
OwnerId reference 18 CUD to:User rel:Owner
{_SYSTEM}
LastActivityDate date 0 N
{_SEEN}
Jigsaw string 20 CUN
JigsawCompanyId string 20 N
CleanStatus picklist 40 CUNR pick:{_CLEAN}
AccountSource picklist 255 CUN pick:{_SOURCE}
DunsNumber string 9 CUN
Tradestyle string 255 CUN
NaicsCode string 8 CUN
NaicsDesc string 120 CUN
YearStarted string 4 CUN
SicDesc string 80 CUN
DandbCompanyId reference 18 CUN to:DandBCompany rel:DandbCompany
"""

CONTACT = f"""
Id id 18 I
IsDeleted boolean 0 D
MasterRecordId reference 18 N to:Contact rel:MasterRecord
AccountId reference 18 CUN to:Account rel:Account
LastName string 80 CU of:Name
FirstName string 40 CUN of:Name
Salutation picklist 255 CUN of:Name pick:Mr.;Ms.;Mrs.;Dr.;Prof.;Mx.
Name string 121 XM
{_address("Other", "OtherAddress")}
{_address("Mailing", "MailingAddress")}
Phone phone 40 CUN
Fax phone 40 CUN
MobilePhone phone 40 CUN
HomePhone phone 40 CUN
OtherPhone phone 40 CUN
AssistantPhone phone 40 CUN
ReportsToId reference 18 CUN to:Contact rel:ReportsTo
Email email 80 CUNI
Title string 128 CUN
Department string 80 CUN
AssistantName string 40 CUN
LeadSource picklist 255 CUN pick:{_SOURCE}
Birthdate date 0 CUN
Description textarea 32000 CUN
OwnerId reference 18 CUD to:User rel:Owner
HasOptedOutOfEmail boolean 0 CUD
HasOptedOutOfFax boolean 0 CUD
DoNotCall boolean 0 CUD
{_SYSTEM}
LastActivityDate date 0 N
LastCURequestDate datetime 0 N
LastCUUpdateDate datetime 0 N
{_SEEN}
EmailBouncedReason string 255 CUN
EmailBouncedDate datetime 0 CUN
IsEmailBounced boolean 0 D
PhotoUrl url 255 N
Jigsaw string 20 CUN
JigsawContactId string 20 N
CleanStatus picklist 40 CUNR pick:{_CLEAN}
IndividualId reference 18 CUN to:Individual rel:Individual
Pronouns picklist 255 CUN pick:He/Him;She/Her;They/Them;He/They;She/They;Not Listed
GenderIdentity picklist 255 CUN pick:Male;Female;Nonbinary;Not Listed
"""

OPPORTUNITY = f"""
Id id 18 I
IsDeleted boolean 0 D
AccountId reference 18 CUN to:Account rel:Account
IsPrivate boolean 0 CUD
Name string 120 CUM
Description textarea 32000 CUN
StageName picklist 255 CU pick:Prospecting;Closed Won;Closed Lost
Amount currency 0 CUN
Probability percent 0 CUN
ExpectedRevenue currency 0 NX
TotalOpportunityQuantity double 0 CUN
CloseDate date 0 CU
Type picklist 255 CUN pick:Existing Business;New Business
NextStep string 255 CUN
LeadSource picklist 255 CUN pick:{_SOURCE}
IsClosed boolean 0 D
IsWon boolean 0 D
ForecastCategory picklist 40 DR pick:Omitted;Pipeline;BestCase;Forecast;Closed
ForecastCategoryName picklist 255 CUN pick:Omitted;Pipeline;Best Case;Commit;Closed
CampaignId reference 18 CUN to:Campaign rel:Campaign
HasOpportunityLineItem boolean 0 D
Pricebook2Id reference 18 CUN to:Pricebook2 rel:Pricebook2
OwnerId reference 18 CUD to:User rel:Owner
{_SYSTEM}
LastActivityDate date 0 N
PushCount int 0 N
LastStageChangeDate datetime 0 N
FiscalQuarter int 0 N
FiscalYear int 0 N
Fiscal string 6 N
ContactId reference 18 CUN to:Contact rel:Contact
{_SEEN}
HasOpenActivity boolean 0 D
HasOverdueTask boolean 0 D
LastAmountChangedHistoryId reference 18 N to:OpportunityHistory rel:LastAmountChangedHistory
LastCloseDateChangedHistoryId reference 18 N to:OpportunityHistory rel:LastCloseDateChangedHistory
"""

OPPORTUNITY_HISTORY = """
Id id 18 I
OpportunityId reference 18 - to:Opportunity rel:Opportunity
CreatedById reference 18 D to:User rel:CreatedBy
CreatedDate datetime 0 D
StageName picklist 255 N pick:Prospecting;Closed Won;Closed Lost
Amount currency 0 N
ExpectedRevenue currency 0 N
CloseDate date 0 N
Probability percent 0 N
ForecastCategory picklist 40 NR pick:Omitted;Pipeline;BestCase;Forecast;Closed
SystemModstamp datetime 0 D
IsDeleted boolean 0 D
PrevAmount currency 0 N
PrevCloseDate date 0 N
"""

OPPORTUNITY_CONTACT_ROLE = f"""
Id id 18 I
OpportunityId reference 18 C to:Opportunity rel:Opportunity
ContactId reference 18 CU to:Contact rel:Contact
Role picklist 255 CUN pick:Business User;Decision Maker;Other
IsPrimary boolean 0 CUD
{_SYSTEM}
IsDeleted boolean 0 D
"""

CASE = f"""
Id id 18 I
IsDeleted boolean 0 D
MasterRecordId reference 18 N to:Case rel:MasterRecord
CaseNumber string 30 DM
ContactId reference 18 CUN to:Contact rel:Contact
AccountId reference 18 CUN to:Account rel:Account
AssetId reference 18 CUN to:Asset rel:Asset
ParentId reference 18 CUN to:Case rel:Parent
SuppliedName string 80 CUN
SuppliedEmail email 80 CUN
SuppliedPhone string 40 CUN
SuppliedCompany string 80 CUN
Type picklist 255 CUN pick:Mechanical;Electrical;Electronic;Structural;Other
Status picklist 255 CUND pick:New;Working;Escalated;Closed
Reason picklist 255 CUN pick:Installation;Equipment Complexity;Performance;Breakdown;Equipment Design;Feedback;Other
Origin picklist 255 CUN pick:Phone;Email;Web
Subject string 255 CUN
Priority picklist 255 CUND pick:High;Medium;Low
Description textarea 32000 CUN
IsClosed boolean 0 D
ClosedDate datetime 0 N
IsEscalated boolean 0 CUD
OwnerId reference 18 CUD to:User rel:Owner
{_SYSTEM}
ContactPhone phone 40 N
ContactMobile phone 40 N
ContactEmail email 80 N
ContactFax phone 40 N
Comments textarea 4000 CUN
{_SEEN}
BusinessHoursId reference 18 CUN to:BusinessHours rel:BusinessHours
"""

TASK = f"""
Id id 18 I
WhoId reference 18 CUN to:Contact rel:Who
WhatId reference 18 CUN to:Account,Opportunity,Case rel:What
Subject combobox 255 CUN
ActivityDate date 0 CUN
Status picklist 255 CUD pick:Not Started;In Progress;Completed;Waiting on someone else;Deferred
Priority picklist 255 CUD pick:High;Normal;Low
IsHighPriority boolean 0 D
OwnerId reference 18 CUD to:User rel:Owner
Description textarea 32000 CUN
IsDeleted boolean 0 D
AccountId reference 18 N to:Account rel:Account
IsClosed boolean 0 D
{_SYSTEM}
IsArchived boolean 0 D
CallDurationInSeconds int 0 CUN
CallType picklist 40 CUNR pick:Internal;Inbound;Outbound
CallDisposition string 255 CUN
CallObject string 255 CUN
ReminderDateTime datetime 0 CUN
IsReminderSet boolean 0 CUD
{_RECURRENCE.format(obj="Task")}
RecurrenceStartDateOnly date 0 CUN
RecurrenceRegeneratedType picklist 40 CUNR pick:RecurrenceRegenerateAfterDueDate;RecurrenceRegenerateAfterToday;RecurrenceRegenerated
TaskSubtype picklist 40 CNR pick:Task;Email;LinkedIn;List Email;Cadence;Call
CompletedDateTime datetime 0 N
Type picklist 255 CUN pick:Call;Email;Meeting;Other
WhoCount int 0 N
WhatCount int 0 N
"""

EVENT = f"""
Id id 18 I
WhoId reference 18 CUN to:Contact rel:Who
WhatId reference 18 CUN to:Account,Opportunity,Case rel:What
Subject combobox 255 CUN
Location string 255 CUN
IsAllDayEvent boolean 0 CUD
ActivityDateTime datetime 0 CUN
ActivityDate date 0 CUN
DurationInMinutes int 0 CUN
StartDateTime datetime 0 CUN
EndDateTime datetime 0 CUN
EndDate date 0 N
Description textarea 32000 CUN
AccountId reference 18 N to:Account rel:Account
OwnerId reference 18 CUD to:User rel:Owner
Type picklist 255 CUN pick:Call;Email;Meeting;Other
IsPrivate boolean 0 CUD
ShowAs picklist 40 CUNR pick:Busy;OutOfOffice;Free;WorkingElsewhere
IsDeleted boolean 0 D
IsChild boolean 0 D
IsGroupEvent boolean 0 D
GroupEventType picklist 40 NR pick:0;1;2;3
{_SYSTEM}
IsArchived boolean 0 D
{_RECURRENCE.format(obj="Event")}
RecurrenceStartDateTime datetime 0 CUN
ReminderDateTime datetime 0 CUN
IsReminderSet boolean 0 CUD
EventSubtype picklist 40 CNR pick:Event
IsRecurrence2Exclusion boolean 0 D
Recurrence2PatternText textarea 1024 CUN
Recurrence2PatternVersion picklist 40 CUNR pick:1;2
IsRecurrence2 boolean 0 D
IsRecurrence2Exception boolean 0 D
Recurrence2PatternStartDate datetime 0 N
Recurrence2PatternTimeZone string 255 N
WhoCount int 0 N
WhatCount int 0 N
"""

USER = f"""
Id id 18 I
Username string 80 CUIQ
LastName string 80 CU of:Name
FirstName string 40 CUN of:Name
MiddleName string 40 CUN of:Name
Suffix string 40 CUN of:Name
Name string 121 XM
CompanyName string 80 CUN
Division string 80 CUN
Department string 80 CUN
Title string 80 CUN
{_address("", "Address")}
Email email 128 CU
EmailPreferencesAutoBcc boolean 0 CUD
EmailPreferencesAutoBccStayInTouch boolean 0 CUD
EmailPreferencesStayInTouchReminder boolean 0 CUD
SenderEmail email 80 CUN
SenderName string 80 CUN
Signature textarea 1333 CUN
StayInTouchSubject string 80 CUN
StayInTouchSignature textarea 512 CUN
StayInTouchNote string 512 CUN
Phone phone 40 CUN
Fax phone 40 CUN
MobilePhone phone 40 CUN
Alias string 8 CU
CommunityNickname string 40 CUQ
BadgeText string 80 N
IsActive boolean 0 CUD
TimeZoneSidKey picklist 40 CUR pick:America/Los_Angeles;America/New_York;Europe/London;Europe/Paris
UserRoleId reference 18 CUN to:UserRole rel:UserRole
LocaleSidKey picklist 40 CUR pick:en_US;en_GB;fr_FR;de_DE
ReceivesInfoEmails boolean 0 CUD
ReceivesAdminInfoEmails boolean 0 CUD
EmailEncodingKey picklist 40 CUR pick:UTF-8;ISO-8859-1
ProfileId reference 18 CUN to:Profile rel:Profile
UserType picklist 40 DR pick:Standard;PowerPartner;CspLitePortal;CustomerSuccess;PowerCustomerSuccess;CsnOnly;Guest
LanguageLocaleKey picklist 40 CUR pick:en_US;fr;de
EmployeeNumber string 20 CUN
DelegatedApproverId reference 18 CUN to:User rel:DelegatedApprover
ManagerId reference 18 CUN to:User rel:Manager
LastLoginDate datetime 0 N
LastPasswordChangeDate datetime 0 N
{_SYSTEM}
NumberOfFailedLogins int 0 N
OfflineTrialExpirationDate datetime 0 N
OfflinePdaTrialExpirationDate datetime 0 N
ForecastEnabled boolean 0 CUD
ContactId reference 18 CN to:Contact rel:Contact
AccountId reference 18 N to:Account rel:Account
CallCenterId reference 18 CUN to:CallCenter rel:CallCenter
Extension phone 40 CUN
FederationIdentifier string 512 CUN
AboutMe textarea 1000 CUN
FullPhotoUrl url 1024 N
SmallPhotoUrl url 1024 N
IsExtIndicatorVisible boolean 0 D
OutOfOfficeMessage string 40 N
MediumPhotoUrl url 1024 N
DigestFrequency picklist 40 CUDR pick:D;W;N
DefaultGroupNotificationFrequency picklist 40 CUDR pick:P;D;W;N
{_SEEN}
BannerPhotoUrl url 1024 N
SmallBannerPhotoUrl url 1024 N
MediumBannerPhotoUrl url 1024 N
IsProfilePhotoActive boolean 0 D
IndividualId reference 18 CUN to:Individual rel:Individual
"""

ACCOUNT_HISTORY = """
Id id 18 I
IsDeleted boolean 0 D
AccountId reference 18 - to:Account rel:Account
CreatedById reference 18 D to:User rel:CreatedBy
CreatedDate datetime 0 D
Field picklist 255 R pick:Owner;Name;Type;created
DataType string 40 N
OldValue anyType 0 N
NewValue anyType 0 N
"""

REFERENCE: dict[str, str] = {
    "User": USER,
    "Account": ACCOUNT,
    "Contact": CONTACT,
    "Opportunity": OPPORTUNITY,
    "OpportunityHistory": OPPORTUNITY_HISTORY,
    "OpportunityContactRole": OPPORTUNITY_CONTACT_ROLE,
    "Case": CASE,
    "Task": TASK,
    "Event": EVENT,
    "AccountHistory": ACCOUNT_HISTORY,
}
