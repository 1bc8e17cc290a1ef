"""In-process model runtimes behind one interface; no HTTP in here."""
