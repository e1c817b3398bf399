"""Lesson 15: `aios serve` with your streaming pieces plugged in.

    python -m aios.course.serve [--solution] [aios serve's arguments]

The server is a process of its own, so a plug-in made by the checks or the
run script would not reach it: this starts the server with the pieces of
lessons/lesson15/streaming.py (or solutions/lesson15/ with --solution)
plugged in for the server's whole life.
"""
import sys

from aios import cli
from aios.course.exercise import load_exercise
from aios.course.plugin import pieces, plugged


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    solution = "--solution" in argv
    argv = [a for a in argv if a != "--solution"]
    with plugged(pieces(15, load_exercise(15, "streaming", solution=solution))):
        return cli.main(["serve", *argv])


if __name__ == "__main__":
    sys.exit(main())
