"""The CLI commands, grouped by what they do; ``flowscope.cli`` assembles them."""
