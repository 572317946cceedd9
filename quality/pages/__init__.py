"""Server-rendered pages of quality: the overview, the vision review queue, the NCR/CAPA
board and an NCR's page with its signed disposition."""
