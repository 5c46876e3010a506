"""Errors that mean the user gave bad input: the CLI prints them as one line and exits 2."""


def _one_line(text: str) -> str:
    """``text`` with control characters (newlines, carriage returns, ...) escaped, so a path or value
    that holds them still prints on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InputError(Exception):
    """Bad user input. The message names the file and the problem, in one line."""

    def __init__(self, path, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(_one_line(f"{self.path}: {problem}" if self.path else problem))
