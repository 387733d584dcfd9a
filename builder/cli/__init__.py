"""The command line: parse arguments, call a step, print its report."""
