"""The plan: its text syntax, `$N` references, prompts, the streamed plan, tasks built from its lines."""
