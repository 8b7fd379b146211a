"""Outbound channels behind one protocol: in-app push, SMS, WhatsApp (and the sandbox)."""
