"""thidua: an event-sourced workflow engine for the targets of emulation campaigns."""
