"""llmx: LLM-prompted structured extraction with Pydantic schemas."""
