"""New tasks from the stored topics: the proposal workflow, the LLM client and its prompts."""
