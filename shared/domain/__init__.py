"""The domain: WhatsApp updates, conversations, tickets and their states."""
