"""diffusion_sft"""
