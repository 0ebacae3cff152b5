"""masked_sft"""
