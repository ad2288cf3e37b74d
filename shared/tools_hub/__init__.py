"""The MCP hub of business tools: orders, invoices, stores and tickets, over BusinessData."""
