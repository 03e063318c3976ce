"""The Salesforce wire API the simulator serves: one module per resource family (REST, describe, composite,
Bulk 2.0, OAuth), each handler a function of the request."""
