"""Small widgets of the lab UI, each with its own CSS."""
