"""Alert delivery off the evaluation path: grouping, receivers' formats, one worker per receiver."""
