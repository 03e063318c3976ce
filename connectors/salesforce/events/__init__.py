"""Change events from the CRM: the Pub/Sub API client, Avro/bitmap decoding, the replay store, the listener loop."""
