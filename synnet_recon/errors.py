"""Errors that mean the user gave bad input: the CLI prints them as one line and exits 2."""


class InputError(Exception):
    """Bad user input. The message names the file and the problem, in one line."""

    def __init__(self, path, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
