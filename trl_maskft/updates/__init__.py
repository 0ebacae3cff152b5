"""Knowledge that changes: a sequence of updates trained one after another, fact edits and the retention matrix."""
