"""The run flow the scripts share: the run itself, the script arguments, the inputs and the recipe parser. Imported by
`scripts/` only."""
