"""SMS through Twilio and WhatsApp through the Cloud API: each account's provider credentials,
the providers' webhooks (delivery statuses, the consumer's inbound messages, STOP and START),
and the 24-hour WhatsApp customer-service window."""
