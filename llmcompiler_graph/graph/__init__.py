"""The factories (`create_llmcompiler`, `create_agent`) and the nodes they wire."""
