"""Running a round's tasks: the task fetching unit, one tool call, task records, tool threads, approvals."""
