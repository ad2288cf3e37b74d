"""The agents: LangGraph graphs that decide what to answer."""
