"""What the trainers share: packing, chunking, segment attention, the selected-logits loss, truncation counting, data
reports and the mask token. Imports no method."""
