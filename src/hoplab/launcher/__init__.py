"""The remote side: POSIX sh scripts sent over ssh's stdin, and reading their answers back."""
