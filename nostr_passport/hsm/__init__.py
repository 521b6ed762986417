"""hsm layer of NostrPassport (see DESIGN.md section 6)."""
